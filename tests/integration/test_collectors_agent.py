"""The collectors inside a served agent: the whole /metrics page with stand-in GPUs (golden
file, regenerate with INFERWATCH_UPDATE_GOLDEN=1), the catalogue, promtool, and isolation of
a hung GPU from the scrape and from the other collectors."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.app import Agent, bound_port, serve
from agent.catalogue import load_catalogue
from agent.config import Settings
from collectors.config import CollectorsConfig
from collectors.registry import CollectorState
from tests.nvml_stub import stub

pytestmark = pytest.mark.integration
nvml_lib = stub.nvml_lib  # fixtures
script = stub.script

GOLDEN = Path(__file__).parents[1] / "golden" / "collectors_metrics.prom"
DEAD_UPSTREAM = "http://127.0.0.1:9"  # nothing listens: the page must not depend on vLLM
# Families whose values (not names or labels) depend on the machine or the moment.
VOLATILE = re.compile(
    r"^(process_|python_gc_|system_|inferwatch_host_|inferwatch_vllm_tree_"
    r"|inferwatch_collector_duration_seconds|inferwatch_collector_failures_total"
    r"|inferwatch_upstream_up|inferwatch_cost_)"
)


async def metrics_page(cfg: CollectorsConfig, ticks: int = 2) -> str:
    """Serve an agent with the collectors attached; /metrics once every collector succeeded
    `ticks` times (a tick can skip a collector still busy from the last one on a loaded
    machine, and rates such as host CPU utilisation need two samples)."""
    store = {"dir": tempfile.mkdtemp(prefix="iw-store-")}  # never the cwd's inferwatch-data
    agent = Agent(Settings(collectors=cfg, store=store), DEAD_UPSTREAM)
    runner = agent.collectors
    seen = asyncio.Queue()
    runner.subscribe(seen.put_nowait)
    web_runner = await serve(agent, "127.0.0.1", 0)
    try:
        for _ in range(200):
            await asyncio.wait_for(seen.get(), 30)
            if all(settled(runner.state(n), ticks) for n in runner.names):
                break
        url = f"http://127.0.0.1:{bound_port(web_runner)}/metrics"
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            assert resp.status == 200
            return await resp.text()
    finally:
        await web_runner.cleanup()


def settled(state: CollectorState, ticks: int) -> bool:
    """Succeeded `ticks` times, or never succeeds here (the vLLM collector, no upstream).
    The host's CPU utilisation is a rate: two readings closer together than the kernel's
    CPU clock (the collector threads run late on a loaded machine) give none yet."""
    failed = sum(state.failures.values())
    if state.successes == 0:
        return failed >= ticks
    snap = state.snapshot
    if not state.success or snap is None or state.successes < ticks:
        return False
    return snap.collector != "host" or any(
        f.name == "system_cpu_utilization_ratio" for f in snap.families
    )


def stub_config(lib: Path, **over) -> CollectorsConfig:
    # A generous time limit: on a loaded machine a 1 s limit can drop a collection, and a
    # test about the page must not flake on that (isolation has its own test).
    base = {
        "interval_s": 0.05,
        "timeout_s": 10.0,
        "nvml_library": str(lib),
        "hostname": "golden-host",
    }
    return CollectorsConfig(**{**base, **over})


def normalise(text: str) -> str:
    """Mask the values of machine-dependent series, keep every name and label."""
    out = []
    for line in text.splitlines():
        if 'reason="busy"' in line or 'reason="timeout"' in line:
            continue  # a tick that overlapped a slow one on a loaded machine: timing, not shape
        if line.startswith("python_info"):
            line = "python_info{<masked>} 1.0"
        elif not line.startswith("#") and VOLATILE.match(line):
            line = line.rsplit(" ", 1)[0] + " <volatile>"
        out.append(line)
    return "\n".join(out) + "\n"


GOLDEN_EXTRA = [
    *("gpu 0 proc 4242 1073741824", "gpu 0 proc 4343 2048", "gpu 0 putil 4242 30"),
    *("gpu 0 putil 4343 10", "gpu 1 xid 79", "gpu 2 fail power 3"),
]


async def test_whole_metrics_page_matches_golden(nvml_lib, script):
    script(3, GOLDEN_EXTRA)
    page = normalise(await metrics_page(stub_config(nvml_lib, dcgm_compat=True)))
    if os.environ.get("INFERWATCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(page)
    assert page == GOLDEN.read_text()


async def test_page_holds_to_the_catalogue_both_ways(nvml_lib, script):
    script(3, GOLDEN_EXTRA)
    page = await metrics_page(stub_config(nvml_lib, dcgm_compat=True))
    specs = load_catalogue()
    exposed = {}
    for fam in text_string_to_metric_families(page):
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        exposed[name] = (fam.type, {k for s in fam.samples for k in s.labels}, fam.documentation)
    for name, (mtype, labels, help_text) in exposed.items():
        spec = specs.get(name)
        assert spec is not None, f"{name} is exposed but not in the catalogue"
        assert spec.type == mtype, name
        assert labels <= set(spec.labels), name
        assert spec.help == help_text, name
    # collectors.vllm needs a live vLLM page: checked in tests/integration/test_metrics_exposition.py
    ours = {
        n
        for n, s in specs.items()
        if s.source.startswith("collectors.") and s.source != "collectors.vllm"
    }
    # RAPL energy is absent where RAPL is not readable (as on these machines)
    missing = ours - set(exposed) - {"inferwatch_host_energy_consumed_joules_total"}
    assert not missing, f"declared but never exposed: {missing}"


async def test_hung_gpu_neither_blocks_the_scrape_nor_the_host_collector(nvml_lib, script):
    script(2, ["gpu 1 sleep util 1500"])  # every utilisation call of GPU 1 takes 1.5 s
    cfg = stub_config(nvml_lib, timeouts={"nvml": 0.1})
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(await metrics_page(cfg, ticks=3))
        for s in fam.samples
    }
    assert found[("inferwatch_collector_success", (("collector", "nvml"),))] == 0
    assert found[("inferwatch_collector_success", (("collector", "host"),))] == 1
    timeouts = found[
        ("inferwatch_collector_failures_total", (("collector", "nvml"), ("reason", "timeout")))
    ]
    assert timeouts >= 1
    assert not [n for n, _ in found if n.startswith("hw_gpu_")]  # nothing stale exposed


async def test_switched_off_collector_is_absent(nvml_lib, script):
    script(1)
    page = await metrics_page(stub_config(nvml_lib, enabled={"nvml": False}), ticks=1)
    assert 'collector="host"' in page
    assert 'collector="nvml"' not in page and "hw_gpu_" not in page


@pytest.mark.prometheus
async def test_promtool_accepts_the_page(nvml_lib, script):
    script(3, GOLDEN_EXTRA)
    page = await metrics_page(stub_config(nvml_lib))
    res = subprocess.run(
        ["promtool", "check", "metrics"], input=page, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.prometheus
async def test_promtool_objects_only_to_dcgm_names_with_compat_on(nvml_lib, script):
    # dcgm-exporter's own label `modelName` is camelCase, which promtool's lint rejects;
    # the names are kept as they are so existing boards work.
    script(3, GOLDEN_EXTRA)
    page = await metrics_page(stub_config(nvml_lib, dcgm_compat=True))
    res = subprocess.run(
        ["promtool", "check", "metrics"], input=page, capture_output=True, text=True
    )
    problems = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert problems and all(p.startswith("DCGM_FI_") for p in problems), problems
