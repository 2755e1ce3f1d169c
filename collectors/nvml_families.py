"""GPU readings -> Prometheus metric families: OpenTelemetry `hw.gpu.*` names in Prometheus
form, inferwatch's own names for what OpenTelemetry does not define, and (on request)
dcgm-exporter's `DCGM_FI_*` names and labels so boards built for dcgm-exporter work.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from collectors.nvml_fields import CLOCK_EVENT_REASONS, GpuInfo, GpuReading

GPU_LABELS = ["gpu", "hw_id", "hw_model", "pci_bus_id"]
DCGM_LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"]
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GpuCounters:
    """Cumulative per-collector state that the families expose."""

    xids: Mapping[tuple[int, int], int]  # (gpu index, xid) -> events seen
    last_xid: Mapping[int, int]  # gpu index -> last xid seen
    errors: Mapping[tuple[str, str, str], int]  # (gpu, field, error) -> count
    vllm_pids: Collection[int]


def _labels(info: GpuInfo) -> list[str]:
    return [str(info.index), info.uuid, info.name, info.pci_bus_id]


# (family name, help, reading attribute) of the plain per-GPU gauges.
_GAUGES = (
    (
        "hw_gpu_utilization_ratio",
        "Fraction of time a GPU kernel was running (hw.gpu.utilization, task general).",
        "util_gpu",
    ),
    ("hw_gpu_memory_usage_bytes", "GPU memory used (hw.gpu.memory.usage).", "mem_used"),
    ("hw_gpu_memory_limit_bytes", "GPU memory in total (hw.gpu.memory.limit).", "mem_total"),
    ("hw_gpu_power_draw_watts", "GPU power draw (hw.gpu.power.draw).", "power_w"),
    ("hw_gpu_temperature_celsius", "GPU core temperature (hw.gpu.temperature).", "temp_c"),
    (
        "inferwatch_gpu_memory_free_bytes",
        "GPU memory free, as NVML reports it (less than limit minus usage when the driver reserves some).",
        "mem_free",
    ),
    (
        "inferwatch_gpu_memory_controller_utilization_ratio",
        "Fraction of time GPU memory was being read or written.",
        "util_mem",
    ),
)


def gpu_families(readings: Sequence[GpuReading], counters: GpuCounters) -> list[Metric]:
    """Every OpenTelemetry-named and inferwatch-named GPU family for one tick."""
    fams = [_gauge(n, h, a, readings) for n, h, a in _GAUGES]
    fams.append(_energy(readings))
    fams.append(_clocks(readings))
    fams.append(_reasons(readings))
    fams.append(_processes(readings, counters.vllm_pids))
    fams.append(_up(readings))
    fams.append(_xid_errors(readings, counters.xids))
    fams.append(_nvml_errors(counters.errors))
    return fams


def _gauge(name: str, doc: str, attr: str, readings: Sequence[GpuReading]) -> Metric:
    fam = GaugeMetricFamily(name, doc, labels=GPU_LABELS)
    for r in readings:
        value = getattr(r, attr)
        if value is not None:
            fam.add_metric(_labels(r.info), value)
    return fam


def _energy(readings: Sequence[GpuReading]) -> Metric:
    fam = CounterMetricFamily(
        "hw_gpu_energy_consumed_joules",
        "Energy the GPU consumed since the driver loaded (hw.gpu.energy.consumed).",
        labels=GPU_LABELS,
    )
    for r in readings:
        if r.energy_j is not None:
            fam.add_metric(_labels(r.info), r.energy_j)
    return fam


def _clocks(readings: Sequence[GpuReading]) -> Metric:
    fam = GaugeMetricFamily(
        "inferwatch_gpu_clock_hertz",
        "GPU clock frequency (sm or memory).",
        labels=[*GPU_LABELS, "clock"],
    )
    for r in readings:
        for clock, value in (("sm", r.sm_clock_hz), ("memory", r.mem_clock_hz)):
            if value is not None:
                fam.add_metric([*_labels(r.info), clock], value)
    return fam


def _reasons(readings: Sequence[GpuReading]) -> Metric:
    fam = GaugeMetricFamily(
        "inferwatch_gpu_clock_event_reason",
        "1 while the reason holds the GPU's clocks down (throttling), else 0.",
        labels=[*GPU_LABELS, "reason"],
    )
    for r in readings:
        if r.clock_event_reasons is not None:
            for reason, bit in CLOCK_EVENT_REASONS.items():
                active = 1.0 if r.clock_event_reasons & bit else 0.0
                fam.add_metric([*_labels(r.info), reason], active)
    return fam


def _processes(readings: Sequence[GpuReading], vllm_pids: Collection[int]) -> Metric:
    fam = GaugeMetricFamily(
        "inferwatch_gpu_process_memory_usage_bytes",
        'GPU memory used by each compute process; vllm="true" marks the metered vLLM server\'s.',
        labels=[*GPU_LABELS, "pid", "vllm"],
    )
    for r in readings:
        for pid, used in r.processes or ():
            if used is not None:  # not available under some drivers (WDDM)
                vllm = "true" if pid in vllm_pids else "false"
                fam.add_metric([*_labels(r.info), str(pid), vllm], used)
    return fam


def _up(readings: Sequence[GpuReading]) -> Metric:
    fam = GaugeMetricFamily(
        "inferwatch_gpu_up",
        "1 when the GPU answered NVML this tick, 0 when it is lost.",
        labels=GPU_LABELS,
    )
    for r in readings:
        fam.add_metric(_labels(r.info), 1.0 if r.up else 0.0)
    return fam


def _xid_errors(readings: Sequence[GpuReading], xids: Mapping[tuple[int, int], int]) -> Metric:
    fam = CounterMetricFamily(
        "hw_errors",
        "Hardware errors by type (hw.errors); for GPUs, XID critical error events as xid_<n>.",
        labels=[*GPU_LABELS, "hw_type", "error_type"],
    )
    by_index = {r.info.index: r.info for r in readings}
    for (index, xid), n in sorted(xids.items()):
        if index in by_index:
            fam.add_metric([*_labels(by_index[index]), "gpu", f"xid_{xid}"], n)
    return fam


def _nvml_errors(errors: Mapping[tuple[str, str, str], int]) -> Metric:
    fam = CounterMetricFamily(
        "inferwatch_nvml_errors",
        "NVML queries that failed, by GPU index (or all), field and NVML error.",
        labels=["gpu", "field", "error"],
    )
    for key, n in sorted(errors.items()):
        fam.add_metric(list(key), n)
    return fam


# dcgm-exporter names, units and types (its default counters): (name, help, value of reading).
_DCGM: tuple[tuple[str, str, Callable[[GpuReading], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda r: _scale(r.util_gpu, 100)),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", lambda r: _scale(r.util_mem, 100)),
    (
        "DCGM_FI_DEV_FB_USED",
        "Framebuffer memory used (in MiB).",
        lambda r: _scale(r.mem_used, 1 / MIB),
    ),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        lambda r: _scale(r.mem_free, 1 / MIB),
    ),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda r: r.power_w),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "Total energy consumption since boot (in mJ); a counter, typed gauge to keep dcgm-exporter's name.",
        lambda r: _scale(r.energy_j, 1000),
    ),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda r: r.temp_c),
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda r: _scale(r.sm_clock_hz, 1e-6)),
    (
        "DCGM_FI_DEV_MEM_CLOCK",
        "Memory clock frequency (in MHz).",
        lambda r: _scale(r.mem_clock_hz, 1e-6),
    ),
)


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 6)


def dcgm_families(
    readings: Sequence[GpuReading], last_xid: Mapping[int, int], hostname: str
) -> list[Metric]:
    """The same readings under dcgm-exporter's names and labels."""
    fams = []
    for name, doc, value_of in _DCGM:
        fam = GaugeMetricFamily(name, doc, labels=DCGM_LABELS)
        for r in readings:
            value = value_of(r)
            if value is not None:
                fam.add_metric(_dcgm_labels(r.info, hostname), value)
        fams.append(fam)
    xid = GaugeMetricFamily(
        "DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", labels=DCGM_LABELS
    )
    for r in readings:
        if r.up:
            xid.add_metric(_dcgm_labels(r.info, hostname), float(last_xid.get(r.info.index, 0)))
    fams.append(xid)
    return fams


def _dcgm_labels(info: GpuInfo, hostname: str) -> list[str]:
    return [str(info.index), info.uuid, info.pci_bus_id, f"nvidia{info.index}", info.name, hostname]
