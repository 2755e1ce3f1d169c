"""GPU readings -> Prometheus metric families: OpenTelemetry `hw.gpu.*` names in Prometheus
form, and inferwatch's own names for what OpenTelemetry does not define.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from agent.catalogue import spec
from collectors.nvml_fields import CLOCK_EVENT_REASONS, GpuInfo, GpuReading


@dataclass(frozen=True, slots=True)
class GpuCounters:
    """Cumulative per-collector state that the families expose."""

    xids: Mapping[tuple[int, int], int]  # (gpu index, xid) -> events seen
    last_xid: Mapping[int, int]  # gpu index -> last xid seen
    errors: Mapping[tuple[str, str, str], int]  # (gpu, field, error) -> count
    vllm_pids: Collection[int]


@lru_cache(maxsize=1024)
def gpu_labels(info: GpuInfo) -> dict[str, str]:
    """The labels of one GPU's series; built once per GPU and shared by its samples (the
    exposition only reads them), which keeps a collection cheap. The names are the
    catalogue's (every per-GPU family starts with the same four)."""
    names = spec("hw_gpu_utilization_ratio").labels
    return dict(zip(names, (str(info.index), info.uuid, info.name, info.pci_bus_id), strict=True))


@lru_cache(maxsize=4096)
def _with(info: GpuInfo, key: str, value: str) -> dict[str, str]:
    return {**gpu_labels(info), key: value}


def put(fam: Metric, labels: dict[str, str], value: float) -> None:
    """Append a sample without copying `labels` (add_metric would build a new dict)."""
    name = fam.name + "_total" if fam.type == "counter" else fam.name
    fam.samples.append(Sample(name, labels, float(value)))


# (family name, reading attribute) of the plain per-GPU gauges.
_GAUGES = (
    ("hw_gpu_utilization_ratio", "util_gpu"),
    ("hw_gpu_memory_usage_bytes", "mem_used"),
    ("hw_gpu_memory_limit_bytes", "mem_total"),
    ("hw_gpu_power_draw_watts", "power_w"),
    ("hw_gpu_temperature_celsius", "temp_c"),
    ("inferwatch_gpu_memory_free_bytes", "mem_free"),
    ("inferwatch_gpu_memory_controller_utilization_ratio", "util_mem"),
)


def gpu_families(readings: Sequence[GpuReading], counters: GpuCounters) -> list[Metric]:
    """Every OpenTelemetry-named and inferwatch-named GPU family for one tick."""
    fams = [_gauge(n, a, readings) for n, a in _GAUGES]
    fams.append(_energy(readings))
    fams.append(_clocks(readings))
    fams.append(_reasons(readings))
    fams.append(_processes(readings, counters.vllm_pids))
    fams.append(_process_sm(readings, counters.vllm_pids))
    fams.append(_up(readings))
    fams.append(_xid_errors(readings, counters.xids))
    fams.append(_nvml_errors(counters.errors))
    return fams


def _gauge(name: str, attr: str, readings: Sequence[GpuReading]) -> Metric:
    fam = spec(name).family()
    for r in readings:
        value = getattr(r, attr)
        if value is not None:
            put(fam, gpu_labels(r.info), value)
    return fam


def _energy(readings: Sequence[GpuReading]) -> Metric:
    fam = spec("hw_gpu_energy_consumed_joules_total").family()
    for r in readings:
        if r.energy_j is not None:
            put(fam, gpu_labels(r.info), r.energy_j)
    return fam


def _clocks(readings: Sequence[GpuReading]) -> Metric:
    fam = spec("inferwatch_gpu_clock_hertz").family()
    for r in readings:
        for clock, value in (("sm", r.sm_clock_hz), ("memory", r.mem_clock_hz)):
            if value is not None:
                put(fam, _with(r.info, "clock", clock), value)
    return fam


def _reasons(readings: Sequence[GpuReading]) -> Metric:
    fam = spec("inferwatch_gpu_clock_event_reason").family()
    for r in readings:
        if r.clock_event_reasons is not None:
            for reason, bit in CLOCK_EVENT_REASONS.items():
                put(fam, _with(r.info, "reason", reason), bool(r.clock_event_reasons & bit))
    return fam


def _processes(readings: Sequence[GpuReading], vllm_pids: Collection[int]) -> Metric:
    fam = spec("inferwatch_gpu_process_memory_usage_bytes").family()
    for r in readings:
        for pid, used in r.processes or ():
            if used is not None:  # not available under some drivers (WDDM)
                vllm = "true" if pid in vllm_pids else "false"
                put(fam, {**gpu_labels(r.info), "pid": str(pid), "vllm": vllm}, used)
    return fam


def _process_sm(readings: Sequence[GpuReading], vllm_pids: Collection[int]) -> Metric:
    fam = spec("inferwatch_gpu_process_utilization_ratio").family()
    for r in readings:
        for pid, ratio in sorted((r.process_sm or {}).items()):
            vllm = "true" if pid in vllm_pids else "false"
            put(fam, {**gpu_labels(r.info), "pid": str(pid), "vllm": vllm}, ratio)
    return fam


def _up(readings: Sequence[GpuReading]) -> Metric:
    fam = spec("inferwatch_gpu_up").family()
    for r in readings:
        put(fam, gpu_labels(r.info), r.up)
    return fam


def _xid_errors(readings: Sequence[GpuReading], xids: Mapping[tuple[int, int], int]) -> Metric:
    fam = spec("hw_errors_total").family()
    by_index = {r.info.index: r.info for r in readings}
    for (index, xid), n in sorted(xids.items()):
        if index in by_index:
            labels = {**gpu_labels(by_index[index]), "hw_type": "gpu", "error_type": f"xid_{xid}"}
            put(fam, labels, n)
    return fam


def _nvml_errors(errors: Mapping[tuple[str, str, str], int]) -> Metric:
    fam = spec("inferwatch_nvml_errors_total").family()
    for (gpu, field, error), n in sorted(errors.items()):
        put(fam, {"gpu": gpu, "field": field, "error": error}, n)
    return fam
