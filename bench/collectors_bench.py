"""Collectors benchmark: one NVML collection of 8 stand-in GPUs (each shared by 2 processes), and /metrics rendering with
8 GPUs, 50 tenants and 5 models, every tenant using every model with every operation and
ending (`full_records`). Ratios are measured side by side in this one run.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pynvml  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from agent.config import MetricsConfig  # noqa: E402
from agent.metrics import RequestMetrics, new_registry  # noqa: E402
from agent.record import (  # noqa: E402
    OP_CHAT,
    OP_COMPLETION,
    OP_EMBEDDINGS,
    STATUS_CANCELLED,
    STATUS_ERROR,
    STATUS_OK,
    RequestRecord,
)
from collectors.config import CollectorsConfig  # noqa: E402
from collectors.host import HostCollector  # noqa: E402
from collectors.nvml import NvmlCollector  # noqa: E402
from collectors.process_tree import VllmProcessFinder  # noqa: E402
from collectors.registry import CollectorRunner  # noqa: E402
from tests.nvml_stub.stub import build, write_script  # noqa: E402

GPUS, TENANTS, MODELS = 8, 50, 5


def timed(fn, n: int) -> tuple[float, float, float]:
    """Median and 99th percentile wall time, and median CPU time of this thread, of `n` calls,
    in milliseconds. On a shared, loaded machine the CPU time is the steadier figure: it
    leaves out the time spent waiting for a core."""
    fn()  # warm
    wall, cpu = [], []
    for _ in range(n):
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
    bare = timed(registry.render, 30)  # what the agent's /metrics handler serves
    runner = CollectorRunner([nvml, host], CollectorsConfig())
    asyncio.run(runner.tick())
    alone = CollectorRegistry()
    alone.register(runner)
    own = timed(lambda: generate_latest(alone), 100)
    registry.register(runner)
    cached = timed(registry.render, 30)  # no series changed since the previous scrape
    touch = timed(lambda: [metrics.observe(r) for r in recs], 30)

    def touch_and_render():  # every series changed since the previous scrape: the worst case
        for r in recs:
            metrics.observe(r)
        return registry.render()

    touched = timed(touch_and_render, 30)
    full = tuple(t - u for t, u in zip(touched, touch, strict=True))
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
