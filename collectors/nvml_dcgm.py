"""GPU readings under dcgm-exporter's `DCGM_FI_*` names, units and labels (its default
counters), so Grafana boards built for dcgm-exporter work unchanged. Switched on by
`collectors.dcgm_compat`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from prometheus_client.metrics_core import Metric

from agent.catalogue import spec
from collectors.nvml_families import put
from collectors.nvml_fields import GpuInfo, GpuReading

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
    return dict(zip(spec("DCGM_FI_DEV_GPU_UTIL").labels, values, strict=True))  # all share them


# dcgm-exporter names (their help, type and labels in the catalogue), and the value of a
# reading in dcgm-exporter's units.
_DCGM: tuple[tuple[str, Callable[[GpuReading], float | None]], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", lambda r: _scale(r.util_gpu, 100)),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", lambda r: _scale(r.util_mem, 100)),
    ("DCGM_FI_DEV_FB_USED", lambda r: _scale(r.mem_used, 1 / MIB)),
    ("DCGM_FI_DEV_FB_FREE", lambda r: _scale(r.mem_free, 1 / MIB)),
    ("DCGM_FI_DEV_POWER_USAGE", lambda r: r.power_w),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", lambda r: _scale(r.energy_j, 1000)),
    ("DCGM_FI_DEV_GPU_TEMP", lambda r: r.temp_c),
    ("DCGM_FI_DEV_SM_CLOCK", lambda r: _scale(r.sm_clock_hz, 1e-6)),
    ("DCGM_FI_DEV_MEM_CLOCK", lambda r: _scale(r.mem_clock_hz, 1e-6)),
)


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 6)


def dcgm_families(
    readings: Sequence[GpuReading], last_xid: Mapping[int, int], hostname: str
) -> list[Metric]:
    """The same readings under dcgm-exporter's names and labels."""
    fams = []
    for name, value_of in _DCGM:
        fam = spec(name).family()
        for r in readings:
            value = value_of(r)
            if value is not None:
                put(fam, _dcgm_labels(r.info, hostname), value)
        fams.append(fam)
    xid = spec("DCGM_FI_DEV_XID_ERRORS").family()
    for r in readings:
        if r.up:
            put(xid, _dcgm_labels(r.info, hostname), last_xid.get(r.info.index, 0))
    fams.append(xid)
    return fams
