"""Reading one GPU through NVML (`nvidia-ml-py`, imported as `pynvml`), field by field.

Each field is read by its own call; a field the GPU does not support, or that errors,
is left out of the reading and named in its errors, and the other fields are still read.
An error meaning the GPU itself is gone (fallen off the bus) stops that GPU's reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pynvml

# Errors after which the GPU answers nothing more: read no further field of it this tick.
GPU_GONE = frozenset(
    {
        pynvml.NVML_ERROR_GPU_IS_LOST,
        pynvml.NVML_ERROR_GPU_NOT_FOUND,
        pynvml.NVML_ERROR_RESET_REQUIRED,
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
    }
)

# Clock event ("throttle") reasons reported by nvmlDeviceGetCurrentClocksEventReasons.
CLOCK_EVENT_REASONS = {
    "gpu_idle": pynvml.nvmlClocksEventReasonGpuIdle,
    "applications_clocks_setting": pynvml.nvmlClocksEventReasonApplicationsClocksSetting,
    "sw_power_cap": pynvml.nvmlClocksEventReasonSwPowerCap,
    "hw_slowdown": pynvml.nvmlClocksEventReasonHwSlowdown,
    "sync_boost": pynvml.nvmlClocksEventReasonSyncBoost,
    "sw_thermal_slowdown": pynvml.nvmlClocksEventReasonSwThermalSlowdown,
    "hw_thermal_slowdown": pynvml.nvmlClocksEventReasonHwThermalSlowdown,
    "hw_power_brake_slowdown": pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
    "display_clock_setting": pynvml.nvmlClocksEventReasonDisplayClockSetting,
}


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """What does not change while the driver runs: identity of one GPU."""

    index: int
    uuid: str
    name: str
    pci_bus_id: str
    handle: Any = field(compare=False, repr=False)


@dataclass(slots=True)
class GpuReading:
    """One tick's values of one GPU; None where the field is unsupported or failed."""

    info: GpuInfo
    up: bool = True
    util_gpu: float | None = None  # ratio 0..1 of time a kernel ran
    util_mem: float | None = None  # ratio 0..1 of time memory was read or written
    mem_total: int | None = None  # bytes
    mem_used: int | None = None
    mem_free: int | None = None
    power_w: float | None = None
    energy_j: float | None = None  # counter since the driver loaded
    temp_c: float | None = None
    sm_clock_hz: float | None = None
    mem_clock_hz: float | None = None
    clock_event_reasons: int | None = None  # bitmask
    processes: tuple[tuple[int, int | None], ...] | None = None  # (pid, used bytes)
    process_sm: dict[int, float] | None = None  # pid -> mean SM utilisation ratio (shared GPU)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, error name)


def _util(h) -> dict:
    u = pynvml.nvmlDeviceGetUtilizationRates(h)
    return {"util_gpu": u.gpu / 100.0, "util_mem": u.memory / 100.0}


def _memory(h) -> dict:
    m = pynvml.nvmlDeviceGetMemoryInfo(h)
    return {"mem_total": m.total, "mem_used": m.used, "mem_free": m.free}


def _power(h) -> dict:
    return {"power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0}  # mW


def _energy(h) -> dict:
    return {"energy_j": pynvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0}  # mJ


def _temperature(h) -> dict:
    return {"temp_c": float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))}


def _clocks(h) -> dict:
    sm = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)
    mem = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)
    return {"sm_clock_hz": sm * 1e6, "mem_clock_hz": mem * 1e6}  # MHz


def _reasons(h) -> dict:
    return {"clock_event_reasons": pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)}


def _processes(h) -> dict:
    procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
    return {"processes": tuple((p.pid, p.usedGpuMemory) for p in procs)}


# Field name (as counted in errors) -> reader. Utilisation first: it is the cheapest probe
# of whether the GPU still answers.
FIELDS: dict[str, Callable[[Any], dict]] = {
    "utilization": _util,
    "memory": _memory,
    "power": _power,
    "energy": _energy,
    "temperature": _temperature,
    "clocks": _clocks,
    "clock_event_reasons": _reasons,
    "processes": _processes,
}


def error_name(err: pynvml.NVMLError) -> str:
    """A short, bounded label for an NVML error: NVMLError_GpuIsLost -> gpu_is_lost."""
    cls = type(err).__name__
    if cls.startswith("NVMLError_"):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.removeprefix("NVMLError_")).lower()
    return f"code_{err.value}"


def read_gpu(info: GpuInfo, skip: frozenset[str] | set[str] = frozenset()) -> GpuReading:
    """Read every field of one GPU but those in `skip` (known unsupported)."""
    reading = GpuReading(info)
    for name, reader in FIELDS.items():
        if name in skip:
            continue
        try:
            for key, value in reader(info.handle).items():
                setattr(reading, key, value)
        except pynvml.NVMLError as err:
            reading.errors.append((name, error_name(err)))
            if err.value in GPU_GONE:
                reading.up = False
                break
    return reading


def read_process_sm(info: GpuInfo, since_us: int) -> tuple[dict[int, float], int]:
    """Mean SM utilisation (ratio) of each process over NVML's samples newer than `since_us`
    (its timestamp, microseconds), and the newest sample's timestamp. Raises NVMLError."""
    try:
        samples = pynvml.nvmlDeviceGetProcessUtilization(info.handle, since_us)
    except pynvml.NVMLError_NotFound:
        return {}, since_us  # no sample since then: nothing ran
    per_pid: dict[int, list[float]] = {}
    for sample in samples:
        per_pid.setdefault(sample.pid, []).append(sample.smUtil / 100.0)
        since_us = max(since_us, sample.timeStamp)
    return {pid: sum(v) / len(v) for pid, v in per_pid.items()}, since_us


def read_info(index: int) -> GpuInfo:
    """Identity of GPU `index` (raises NVMLError when it cannot be read)."""
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    bus = pynvml.nvmlDeviceGetPciInfo(h).busId
    return GpuInfo(
        index=index,
        uuid=_text(pynvml.nvmlDeviceGetUUID(h)),
        name=_text(pynvml.nvmlDeviceGetName(h)),
        pci_bus_id=_text(bus),
        handle=h,
    )


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
