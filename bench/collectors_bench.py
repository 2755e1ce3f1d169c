"""Collectors benchmark: one NVML collection of 8 stand-in GPUs (each shared by 2 processes), and /metrics rendering with
8 GPUs, 50 tenants and 5 models, every tenant using every model with every operation and
ending (`full_records`), cost on with hosted prices, and the vLLM collector's families for
every model (docs/design/series-budget.md's "full" page). Ratios are measured side by side in this one run.

    python bench/collectors_bench.py            (from the repository root; needs gcc)

Targets: collection <= 5 ms; rendering <= 20 ms.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pynvml  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from agent.config import MetricsConfig  # noqa: E402
from agent.cost.budgets import Budgets  # noqa: E402
from agent.cost.config import CostConfig, HostedPrice  # noqa: E402
from agent.cost.metrics import CostMetrics  # noqa: E402
from agent.metrics import RequestMetrics, new_registry  # noqa: E402
from agent.record import (  # noqa: E402
    COST_FINAL,
    OP_CHAT,
    OP_COMPLETION,
    OP_EMBEDDINGS,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
    RequestRecord,
)
from collectors.base import DeviceInterval, Snapshot  # noqa: E402
from collectors.config import CollectorsConfig  # noqa: E402
from collectors.host import HostCollector  # noqa: E402
from collectors.nvml import NvmlCollector  # noqa: E402
from collectors.process_tree import VllmProcessFinder  # noqa: E402
from collectors.registry import CollectorRunner  # noqa: E402
from collectors.vllm import translate  # noqa: E402
from tests.nvml_stub.stub import build, write_script  # noqa: E402

GPUS, TENANTS, MODELS = 8, 50, 5
ROOT = Path(__file__).resolve().parents[1]
VLLM_PAGE = ROOT / "tests" / "fixtures" / "vllm-0.32-cpu-metrics.txt"


def timed(fn, n: int, setup=None) -> tuple[float, float, float]:
    """Median and 99th percentile wall time, and median CPU time of this thread, of `n` calls,
    in milliseconds (`setup`, if given, runs untimed before each). On a shared, loaded
    machine the CPU time is the steadier figure: it leaves out the time spent waiting for a
    core."""
    fn()  # warm
    wall, cpu = [], []
    for _ in range(n):
        if setup is not None:
            setup()
        t, c = time.perf_counter(), time.thread_time()
        fn()
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.thread_time() - c) * 1e3)
    wall.sort()
    return statistics.median(wall), wall[int(0.99 * (n - 1))], statistics.median(cpu)


def raw_pynvml_pass(handles) -> None:
    """The bare NVML calls of one collection, without the collector around them: a floor."""
    for h in handles:
        pynvml.nvmlDeviceGetUtilizationRates(h)
        pynvml.nvmlDeviceGetMemoryInfo(h)
        pynvml.nvmlDeviceGetPowerUsage(h)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)
        pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)
        pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)
        pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)
        pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        pynvml.nvmlDeviceGetProcessUtilization(h, 0)


def record(
    i: int,
    op: str = OP_CHAT,
    stream: bool = True,
    status: str = STATUS_OK,
    error: str | None = None,
) -> RequestRecord:
    """Request `i` of the traffic: tenant and model go round so every tenant uses every
    model; a failed request has no tokens, a cancelled stream its first token only."""
    start, ok = time.monotonic_ns(), status == STATUS_OK
    first = None if op == OP_EMBEDDINGS or status == STATUS_ERROR else start + 50_000_000
    return RequestRecord(
        request_id=f"r{i}", trace_id="0" * 32, span_id="0" * 16,
        tenant=f"tenant-{i % TENANTS}", model=f"model-{i // TENANTS % MODELS}", operation=op,
        path="/v1/chat/completions", stream=stream, wall_time=time.time(),
        start_ns=start, end_ns=start + 300_000_000, first_token_ns=first,
        prompt_tokens=100 if ok else None,
        completion_tokens=20 if ok and op != OP_EMBEDDINGS else None, overhead_ns=200_000,
        status=status, error_type=error, http_status=500 if status == STATUS_ERROR else 200,
    )  # fmt: skip


# What a real server at the shape sees (docs/design/series-budget.md, "full"): chat and
# completions, streamed and not, ending ok, in an error (500, upstream_timeout) or
# cancelled; embeddings ending ok or in an error.
ENDINGS = ((STATUS_OK, None), (STATUS_ERROR, "500"), (STATUS_ERROR, "upstream_timeout"),
           (STATUS_CANCELLED, "cancelled"))  # fmt: skip
KINDS = [
    *((op, stream, *end) for op in (OP_CHAT, OP_COMPLETION) for stream in (True, False)
      for end in ENDINGS),
    (OP_EMBEDDINGS, False, STATUS_OK, None), (OP_EMBEDDINGS, False, STATUS_ERROR, "500"),
]  # fmt: skip


def full_records() -> list[RequestRecord]:
    """Every kind of request above, for every tenant x model pair."""
    pairs = range(TENANTS * MODELS)
    return [record(i, *kind) for kind in KINDS for i in pairs]


class VllmPages:
    """The vLLM collector's families as if vLLM served every model: the captured vLLM 0.32
    page with each of its series repeated once per model name."""

    name = "vllm"

    def __init__(self, models: int) -> None:
        lines = VLLM_PAGE.read_text().splitlines()
        names = [f"model-{m}" for m in range(models)]
        page = [
            line.replace('model_name="tiny-llama"', f'model_name="{n}"')
            for line in lines
            for n in (names if 'model_name="tiny-llama"' in line else names[:1])
        ]
        self._families = tuple(translate("\n".join(page) + "\n"))

    def collect(self) -> Snapshot:
        """The same families every tick (translated once)."""
        return Snapshot(self.name, time.monotonic_ns(), self._families)


def with_cost(instruments: dict, recs: list[RequestRecord]) -> Callable[[], None]:
    """Cost on, with hosted prices, as the cost stage would count it: a tick of each of the
    8 GPUs metered and shared out to every tenant x model pair, then every record released.
    Returns what releases the records again."""
    models = [f"model-{m}" for m in range(MODELS)]
    config = CostConfig(
        hosted_prices={m: HostedPrice(input_per_1m=1, output_per_1m=2) for m in models}
    )
    caps = MetricsConfig(max_tenants=TENANTS, max_models=MODELS)
    cost = CostMetrics(instruments, config, caps, Budgets({}, config.currency))
    charge = types.SimpleNamespace(cost=0.01, device_seconds=1.0)
    for g in range(GPUS):
        cost.metered(DeviceInterval(f"gpu:{g}", "gpu", 0, 10**9, 0.5, 1.0, 1), charge)
    cost.idle("gpu", 0.001)
    cost.shares({(r.model, r.tenant): 0.001 for r in recs})
    priced = [replace(r, cost_amount=1e-5, cost_status=COST_FINAL) for r in recs]

    def release() -> None:
        for r in priced:
            cost.released(r, None)  # the engine's own request state: unused here

    release()
    return release


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    lib = build(tmp)
    # Every GPU shared by two servers: the per-process utilisation path is taken too.
    extra = [
        line
        for i in range(GPUS)
        for line in (f"gpu {i} proc {1000 + i} 1073741824", f"gpu {i} proc 1 2048",
                     f"gpu {i} putil {1000 + i} 30", f"gpu {i} putil 1 10")
    ]  # fmt: skip
    os.environ["NVML_STUB_CONFIG"] = str(write_script(tmp / "gpus.txt", GPUS, extra))
    nvml = NvmlCollector(library=str(lib), dcgm_compat=True, hostname="bench")
    host = HostCollector(hostname="bench")
    nvml.collect()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(GPUS)]

    raw = timed(lambda: raw_pynvml_pass(handles), 300)
    col = timed(nvml.collect, 300)
    hst = timed(host.collect, 100)
    tree = timed(HostCollector(VllmProcessFinder(pid=os.getpid()), hostname="b").collect, 100)
    report(f"NVML collection, {GPUS} stand-in GPUs, dcgm names too (target <= 5 ms)", col)
    report("  bare pynvml calls of the same pass (a floor)", raw)
    print(f"  collector / bare pynvml: {col[0] / raw[0]:.2f}x wall, {col[2] / raw[2]:.2f}x cpu")
    report("host collection, no vLLM tree", hst)
    report("host collection metering a process tree (this process)", tree)

    registry, instruments = new_registry()
    metrics = RequestMetrics(instruments, MetricsConfig(max_tenants=TENANTS, max_models=MODELS))
    recs = full_records()
    for r in recs:
        metrics.observe(r)
    release = with_cost(instruments, recs)
    bare = timed(registry.render, 30)  # what the agent's /metrics handler serves
    runner = CollectorRunner([nvml, host, VllmPages(MODELS)], CollectorsConfig())
    asyncio.run(runner.tick())
    alone = CollectorRegistry()
    alone.register(runner)
    own = timed(lambda: generate_latest(alone), 100)
    registry.register(runner)
    cached = timed(registry.render, 30)  # no series changed since the previous scrape

    def touch():  # every series changed since the previous scrape: the worst case
        for r in recs:
            metrics.observe(r)
        release()

    full = timed(registry.render, 30, setup=touch)
    slow = timed(lambda: generate_latest(registry), 10)  # prometheus_client renders it all
    kib = len(registry.render()) / 1024, len(generate_latest(alone)) / 1024
    print(f"/metrics series (sample lines): {series(registry.render())}")
    report(
        f"/metrics, {GPUS} GPUs, {TENANTS} tenants x {MODELS} models, {kib[0]:.0f} KiB "
        "(target <= 20 ms)",
        full,
    )
    report("  the same page when no series changed since the last scrape", cached)
    report(f"  the collectors' families alone, {kib[1]:.0f} KiB", own)
    report("  the same page without the collectors", bare)
    print(
        f"  with / without collectors: {full[0] / bare[0]:.2f}x wall, {full[2] / bare[2]:.2f}x cpu"
    )
    report("  the same full page rendered by prometheus_client's generate_latest", slow)
    print(f"  agent renderer / generate_latest: {full[2] / slow[2]:.3f}x cpu")
    asyncio.run(runner.stop())


def series(page: bytes) -> int:
    """Sample lines of an exposition page (each is one series)."""
    return sum(1 for line in page.splitlines() if line and not line.startswith(b"#"))


def report(what: str, t: tuple[float, float, float]) -> None:
    print(f"{what}: median {t[0]:.3f} ms (p99 {t[1]:.3f}), cpu {t[2]:.3f} ms")


if __name__ == "__main__":
    main()
