"""Collectors benchmark: one NVML collection of 8 stand-in GPUs, and /metrics rendering with
8 GPUs, 50 tenants and 5 models. Ratios are measured side by side in this one run.

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
from agent.record import RequestRecord  # noqa: E402
from collectors.config import CollectorsConfig  # noqa: E402
from collectors.host import HostCollector  # noqa: E402
from collectors.nvml import NvmlCollector  # noqa: E402
from collectors.process_tree import VllmProcessFinder  # noqa: E402
from collectors.registry import CollectorRunner  # noqa: E402
from tests.nvml_stub.stub import build, write_script  # noqa: E402

GPUS, TENANTS, MODELS = 8, 50, 5


def timed(fn, n: int) -> tuple[float, float]:
    """Median and 99th percentile of `n` calls, in milliseconds."""
    fn()  # warm
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return statistics.median(times), times[int(0.99 * (n - 1))]


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


def record(i: int) -> RequestRecord:
    start = time.monotonic_ns()
    return RequestRecord(
        request_id=f"r{i}", trace_id="0" * 32, span_id="0" * 16,
        tenant=f"tenant-{i % TENANTS}", model=f"model-{i // TENANTS % MODELS}", operation="chat",
        path="/v1/chat/completions", stream=True, wall_time=time.time(),
        start_ns=start, end_ns=start + 300_000_000, first_token_ns=start + 50_000_000,
        prompt_tokens=100, completion_tokens=20, overhead_ns=200_000,
    )  # fmt: skip


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    lib = build(tmp)
    extra = [f"gpu {i} proc {1000 + i} 1073741824" for i in range(GPUS)]
    os.environ["NVML_STUB_CONFIG"] = str(write_script(tmp / "gpus.txt", GPUS, extra))
    nvml = NvmlCollector(library=str(lib), dcgm_compat=True, hostname="bench")
    host = HostCollector(hostname="bench")
    nvml.collect()
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(GPUS)]

    raw = timed(lambda: raw_pynvml_pass(handles), 300)
    col = timed(nvml.collect, 300)
    hst = timed(host.collect, 100)
    tree_host = HostCollector(VllmProcessFinder(pid=os.getpid()), hostname="bench")
    tree = timed(tree_host.collect, 100)
    print(f"NVML collection, {GPUS} stand-in GPUs: median {col[0]:.3f} ms, p99 {col[1]:.3f} ms "
          f"(target <= 5 ms)")  # fmt: skip
    print(f"  bare pynvml calls of the same pass: median {raw[0]:.3f} ms; "
          f"collector / bare = {col[0] / raw[0]:.2f}x")  # fmt: skip
    print(f"host collection, no vLLM tree: median {hst[0]:.3f} ms, p99 {hst[1]:.3f} ms; "
          f"metering a process tree (this one): median {tree[0]:.3f} ms, p99 {tree[1]:.3f} ms")  # fmt: skip

    registry, instruments = new_registry()
    metrics = RequestMetrics(instruments, MetricsConfig(max_tenants=TENANTS, max_models=MODELS))
    for i in range(TENANTS * MODELS * 2):  # every tenant uses every model
        metrics.observe(record(i))
    bare = timed(lambda: generate_latest(registry), 100)
    runner = CollectorRunner([nvml, host], CollectorsConfig())
    asyncio.run(runner.tick())
    alone = CollectorRegistry()
    alone.register(runner)
    own = timed(lambda: generate_latest(alone), 100)
    own_size = len(generate_latest(alone))
    registry.register(runner)
    full = timed(lambda: generate_latest(registry), 100)
    size = len(generate_latest(registry))
    print(f"/metrics rendering, {GPUS} GPUs (dcgm names too), {TENANTS} tenants, {MODELS} models: "
          f"median {full[0]:.2f} ms, p99 {full[1]:.2f} ms, {size / 1024:.0f} KiB (target <= 20 ms)")  # fmt: skip
    print(f"  the collectors' part alone ({own_size / 1024:.0f} KiB): median {own[0]:.2f} ms, "
          f"p99 {own[1]:.2f} ms")  # fmt: skip
    print(f"  same page without collectors: median {bare[0]:.2f} ms; "
          f"with / without = {full[0] / bare[0]:.2f}x")  # fmt: skip
    asyncio.run(runner.stop())


if __name__ == "__main__":
    main()
