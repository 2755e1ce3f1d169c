"""GPU readings under dcgm-exporter's `DCGM_FI_*` names, units and labels (its default
counters), so Grafana boards built for dcgm-exporter work unchanged. Switched on by
`collectors.dcgm_compat`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from prometheus_client.metrics_core import Metric

from collectors.nvml_families import put
from collectors.nvml_fields import GpuInfo, GpuReading

DCGM_LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"]
MIB = 1024 * 1024


@lru_cache(maxsize=1024)
def _dcgm_labels(info: GpuInfo, hostname: str) -> dict[str, str]:
    values = (
        str(info.index),
        info.uuid,
        info.pci_bus_id,
        f"nvidia{info.index}",
        info.name,
        hostname,
    )
    return dict(zip(DCGM_LABELS, values, strict=True))


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
        fam = Metric(name, doc, "gauge")
        for r in readings:
            value = value_of(r)
            if value is not None:
                put(fam, _dcgm_labels(r.info, hostname), value)
        fams.append(fam)
    xid = Metric("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", "gauge")
    for r in readings:
        if r.up:
            put(xid, _dcgm_labels(r.info, hostname), last_xid.get(r.info.index, 0))
    fams.append(xid)
    return fams
