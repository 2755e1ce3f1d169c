"""A real agent with stand-in GPUs (the compiled NVML stub, through the real nvidia-ml-py
ctypes path) in front of a scripted vLLM /metrics page writes metric snapshots into its
store; StoreSeries reads back the GPUs' and vLLM's values, and PrometheusSeries returns
the same series from a real Prometheus scraping that agent."""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from contextlib import asynccontextmanager

import pytest
import requests
from aiohttp import web

from agent.app import Agent, bound_port, serve
from agent.config import Settings
from dashboards.data.api import DataUnavailable
from dashboards.data.series_prom import PrometheusSeries
from dashboards.data.series_store import StoreSeries
from tests.conftest import free_port, start_app
from tests.nvml_stub import stub

pytestmark = pytest.mark.integration
nvml_lib = stub.nvml_lib  # fixture

GAUGES = (
    "hw_gpu_utilization_ratio",
    "hw_gpu_temperature_celsius",
    "hw_gpu_power_draw_watts",
    "hw_gpu_memory_usage_bytes",
    "inferwatch_vllm_requests_running",
    "inferwatch_vllm_requests_waiting",
    "inferwatch_vllm_kv_cache_usage_ratio",
)
PREEMPTIONS = "inferwatch_vllm_preemptions_total"
# What the stand-in GPUs report: GPU 0 the stub's defaults, GPU 1 its own values.
EXPECTED_GPU = {
    ("hw_gpu_utilization_ratio", "0"): 0.75,
    ("hw_gpu_utilization_ratio", "1"): 0.30,
    ("hw_gpu_temperature_celsius", "0"): 61.0,
    ("hw_gpu_temperature_celsius", "1"): 45.0,
    ("hw_gpu_power_draw_watts", "0"): 250.0,
    ("hw_gpu_power_draw_watts", "1"): 100.0,
    ("hw_gpu_memory_usage_bytes", "0"): 20 * 2**30,
    ("hw_gpu_memory_usage_bytes", "1"): 20 * 2**30,
}
EXPECTED_VLLM = {
    "inferwatch_vllm_requests_running": 3.0,
    "inferwatch_vllm_requests_waiting": 2.0,
    "inferwatch_vllm_kv_cache_usage_ratio": 0.25,
}
PREEMPTIONS_PER_S = 2.0


def vllm_page() -> str:
    """A vLLM /metrics page; preemptions grow with the wall clock, 2 a second, so their
    rate is known whenever and however often the page is read."""
    lab = '{engine="0",model_name="tiny-llama"}'
    return (
        "# TYPE vllm:num_requests_running gauge\n"
        f"vllm:num_requests_running{lab} 3.0\n"
        "# TYPE vllm:num_requests_waiting gauge\n"
        f"vllm:num_requests_waiting{lab} 2.0\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\n"
        f"vllm:kv_cache_usage_perc{lab} 0.25\n"
        "# TYPE vllm:num_preemptions_total counter\n"
        f"vllm:num_preemptions_total{lab} {math.floor(PREEMPTIONS_PER_S * time.time())}.0\n"
    )


def scripted_upstream() -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=vllm_page())

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


@asynccontextmanager
async def running_agent(tmp_path, lib, monkeypatch, snapshots: int = 6):
    """An agent with 2 stand-in GPUs, served until the block ends, once it has stored
    `snapshots` snapshots; yields (agent, its base URL)."""
    lines = ["count 2", *stub.gpu(0), *stub.gpu(1, util="30 10", temp=45, power=100000)]
    (tmp_path / "nvml.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("NVML_STUB_CONFIG", str(tmp_path / "nvml.txt"))
    up_runner, up_url = await start_app(scripted_upstream())
    collectors = {"interval_s": 0.05, "timeout_s": 10.0, "nvml_library": str(lib)}
    store = {"dir": str(tmp_path / "store"), "snapshot_interval_s": 0.2}
    agent = Agent(Settings(collectors=collectors, store=store), up_url)
    runner = await serve(agent, "127.0.0.1", 0)
    try:
        async with asyncio.timeout(60):
            while agent.samples.written < snapshots or not _vllm_seen(agent):
                await asyncio.sleep(0.1)
        yield agent, f"http://127.0.0.1:{bound_port(runner)}"
    finally:
        await runner.cleanup()
        await up_runner.cleanup()


def _vllm_seen(agent) -> bool:
    return agent.collectors.state("vllm").successes >= 2


def values(df, names) -> dict:
    """{(name, gpu label or ''): the latest value} of `df`."""
    df = df[df["name"].isin(names)].sort_values("t")
    gpu = df["gpu"].fillna("") if "gpu" in df else ""
    return df.assign(gpu=gpu).groupby(["name", "gpu"])["value"].last().to_dict()


async def test_store_series_return_the_stub_gpus_and_vllm(tmp_path, nvml_lib, monkeypatch):
    async with running_agent(tmp_path, nvml_lib, monkeypatch, snapshots=25) as (agent, _):
        store = StoreSeries(agent.settings.store.path)
        now = time.time()
        df = await asyncio.to_thread(store.series, (*GAUGES, PREEMPTIONS), now - 120, now, 1)
    got = values(df, GAUGES)
    assert {k: got[k] for k in EXPECTED_GPU} == EXPECTED_GPU
    assert {n: got[(n, "")] for n in EXPECTED_VLLM} == EXPECTED_VLLM
    assert set(df[df["name"] == "inferwatch_vllm_requests_running"]["gen_ai_request_model"]) == {
        "tiny-llama"
    }
    rates = df[df["name"] == PREEMPTIONS]["value"]
    # A rate, not the counter's value (about 3.6e9). Each snapshot holds the vLLM page as
    # the collector last read it, up to a tick or two earlier, so one second's rate can be
    # off by a whole count or two; their median is not (exact rates: the unit tests).
    assert len(rates) >= 3 and all(0 <= r < 10 for r in rates), rates.tolist()
    assert rates.median() == pytest.approx(PREEMPTIONS_PER_S, rel=0.5), rates.tolist()


@asynccontextmanager
async def prometheus(tmp_path, target: str):
    """A real Prometheus scraping `target` (host:port) every second; yields its URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: install the Debian package prometheus"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: agent, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _scrapes(prom_url: str) -> int:
    """Scrapes of the preemptions counter Prometheus holds from the last 12 s (0 while it
    starts)."""
    query = f"count_over_time({PREEMPTIONS}[12s])"
    try:
        r = requests.get(f"{prom_url}/api/v1/query", params={"query": query}, timeout=5)
        result = r.json()["data"]["result"]
    except (requests.RequestException, ValueError, KeyError):
        return 0
    return int(float(result[0]["value"][1])) if result else 0


async def _until_scraped(prom_url: str, scrapes: int = 10) -> None:
    """Wait until Prometheus has scraped the agent `scrapes` times in the last 12 s, so a
    5 s rate window ending now is wholly covered (before that, `rate` divides a partial
    increase by the whole window)."""
    async with asyncio.timeout(90):
        while await asyncio.to_thread(_scrapes, prom_url) < scrapes:
            await asyncio.sleep(0.5)


@pytest.mark.prometheus
async def test_prometheus_series_match_the_store_series(tmp_path, nvml_lib, monkeypatch):
    async with (
        running_agent(tmp_path, nvml_lib, monkeypatch) as (agent, url),
        prometheus(tmp_path, url.removeprefix("http://")) as prom_url,
    ):
        prom = PrometheusSeries(prom_url, min_window_s=5)
        await _until_scraped(prom_url)
        now = time.time()
        from_prom = await asyncio.to_thread(prom.series, (*GAUGES, PREEMPTIONS), now - 60, now, 5)
        store = StoreSeries(agent.settings.store.path)
        from_store = await asyncio.to_thread(store.series, (*GAUGES, PREEMPTIONS), now - 60, now, 5)
        with pytest.raises(DataUnavailable, match="did not answer"):
            not_prom = PrometheusSeries(url)  # the agent: it has no Prometheus API
            await asyncio.to_thread(not_prom.series, GAUGES[:1], now - 60, now, 5)
    assert values(from_prom, GAUGES) == values(from_store, GAUGES)
    assert {k: values(from_prom, GAUGES)[k] for k in EXPECTED_GPU} == EXPECTED_GPU
    # Prometheus adds the target's labels; the agent's own come through as they are.
    assert set(from_prom["job"]) == {"agent"}
    gpu0 = from_prom[(from_prom["name"] == GAUGES[0]) & (from_prom["gpu"] == "0")]
    assert set(gpu0["hw_model"]) == {stub.MODELS[0]}
    # The last step wholly in the past (a step ending after `now` has part of its window empty).
    rates = from_prom[(from_prom["name"] == PREEMPTIONS) & (from_prom["t"] <= now)]
    rate = rates.sort_values("t")["value"].iloc[-1]
    assert rate == pytest.approx(PREEMPTIONS_PER_S, rel=0.25)


async def test_unreachable_prometheus_is_a_clear_message():
    prom = PrometheusSeries(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DataUnavailable, match="cannot be reached"):
        prom.series(GAUGES[:1], 0, 600, 60)
