"""Parsing for bench/gpu_compare.py: nvidia-smi's CSV answers and the agent's /metrics,
both brought to SI units (ratio, bytes, watts, joules, celsius, hertz), so a comparison never
mixes MiB with bytes, mJ with J or MHz with Hz.

The agent's names are the catalogue's (agent/catalogue.yaml, README's Metrics reference):
hw_gpu_* (OpenTelemetry hw.gpu.*), inferwatch_gpu_clock_hertz{clock="sm"|"memory"},
inferwatch_gpu_process_memory_usage_bytes{pid}, inferwatch_cost_*.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

MIB = 2**20
# nvidia-smi's words for a value it has not (its CSV puts them in the field's place).
MISSING = {"[N/A]", "N/A", "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]"}
UNITS = (" MiB", " W", " %", " MHz", " mJ", " C")


@dataclass(frozen=True)
class Quantity:
    """One compared quantity: nvidia-smi's field and the SI scale of its unit, the agent's
    series, the unit the report shows, and the tolerance of its median difference."""

    name: str
    smi_field: str
    smi_to_si: float  # nvidia-smi's unit -> SI (MiB -> bytes, mJ -> J, MHz -> Hz, % -> ratio)
    metric: str
    labels: tuple[tuple[str, str], ...]
    unit: str
    si_to_unit: float  # SI -> the report's unit
    tol_abs: float  # in the report's unit
    tol_rel: float  # of nvidia-smi's median value
    note: str = ""


QUANTITIES = (
    Quantity(
        "utilisation",
        "utilization.gpu",
        0.01,
        "hw_gpu_utilization_ratio",
        (),
        "%",
        100,
        20,
        0,
        "loose: NVML and nvidia-smi each average over their own sampling window",
    ),
    Quantity(
        "memory used",
        "memory.used",
        MIB,
        "hw_gpu_memory_usage_bytes",
        (),
        "MiB",
        1 / MIB,
        256,
        0.01,
        "the agent reads NVML's v1 memory info (reserved memory in "
        "`used`), nvidia-smi the v2 one; caches grow between two readings",
    ),
    Quantity(
        "memory total", "memory.total", MIB, "hw_gpu_memory_limit_bytes", (), "MiB", 1 / MIB, 1, 0
    ),
    Quantity(
        "power",
        "power.draw",
        1.0,
        "hw_gpu_power_draw_watts",
        (),
        "W",
        1,
        20,
        0.10,
        "drawn power moves within the collector's interval",
    ),
    Quantity(
        "energy",
        "total_energy_consumption",
        1e-3,
        "hw_gpu_energy_consumed_joules_total",
        (),
        "J",
        1,
        0,
        0,
        "tolerance: the highest power x (collector interval + sample time + 1 s of tick "
        "jitter), how far the counter moves while the agent's reading ages",
    ),
    Quantity("temperature", "temperature.gpu", 1.0, "hw_gpu_temperature_celsius", (), "C", 1, 3, 0),
    Quantity(
        "SM clock",
        "clocks.sm",
        1e6,
        "inferwatch_gpu_clock_hertz",
        (("clock", "sm"),),
        "MHz",
        1e-6,
        50,
        0.05,
        "boost clocks move under load",
    ),
    Quantity(
        "memory clock",
        "clocks.mem",
        1e6,
        "inferwatch_gpu_clock_hertz",
        (("clock", "memory"),),
        "MHz",
        1e-6,
        1,
        0.01,
    ),
)
GPU_FIELDS = tuple(q.smi_field for q in QUANTITIES)


def smi_number(text: str) -> float | None:
    """One nvidia-smi field as a number in its own unit; None for [N/A] and the like.
    A unit left on the value (no `nounits`) is dropped."""
    text = text.strip()
    if text in MISSING or not text:
        return None
    for unit in UNITS:
        text = text.removesuffix(unit)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number from nvidia-smi: {text!r}") from None


def parse_smi_gpu(line: str, fields: tuple[str, ...] = GPU_FIELDS) -> dict[str, float | None]:
    """GPU 0's `--query-gpu` answer (csv, noheader), each field in SI units."""
    first = line.strip().splitlines()[0] if line.strip() else ""
    if first.startswith("ERROR") or not first:
        raise ValueError(f"nvidia-smi gave no reading: {line.strip()[:200]!r}")
    values = [smi_number(v) for v in first.split(",")]
    if len(values) != len(fields):
        raise ValueError(f"expected {len(fields)} fields from nvidia-smi, got {first!r}")
    scale = {q.smi_field: q.smi_to_si for q in QUANTITIES}
    return {
        f: None if v is None else v * scale.get(f, 1.0) for f, v in zip(fields, values, strict=True)
    }


def parse_smi_apps(text: str) -> dict[int, float | None]:
    """`--query-compute-apps=pid,used_memory --format=csv`: bytes by pid (None: [N/A])."""
    out: dict[int, float | None] = {}
    for line in text.strip().splitlines():
        pid, _, used = line.partition(",")
        if not pid.strip().isdigit():
            continue  # the header, or a message such as "No running processes found"
        mib = smi_number(used)
        out[int(pid)] = None if mib is None else mib * MIB
    return out


def parse_agent(page: str, gpu: str = "0") -> dict[tuple[str, tuple], float]:
    """Every sample of the page for GPU `gpu` (and those with no gpu label), by (name,
    sorted labels without gpu/hw_*), in the catalogue's units (already SI)."""
    out: dict[tuple[str, tuple], float] = {}
    for fam in text_string_to_metric_families(page):
        for s in fam.samples:
            if s.labels.get("gpu", gpu) != gpu:
                continue
            keep = tuple(sorted((k, v) for k, v in s.labels.items() if not _device_label(k)))
            out[(s.name, keep)] = s.value
    return out


def _device_label(key: str) -> bool:
    return key == "gpu" or key.startswith("hw_") or key == "pci_bus_id"


def agent_value(values: dict[tuple[str, tuple], float], q: Quantity) -> float | None:
    """The agent's value of quantity `q`, SI units (None when the page lacks it)."""
    return values.get((q.metric, tuple(sorted(q.labels))))


def agent_processes(values: dict[tuple[str, tuple], float]) -> dict[int, tuple[float, str]]:
    """Per-process GPU memory on the agent's page: pid -> (bytes, its vllm label)."""
    out = {}
    for (name, labels), value in values.items():
        if name == "inferwatch_gpu_process_memory_usage_bytes":
            lab = dict(labels)
            out[int(lab["pid"])] = (value, lab.get("vllm", ""))
    return out
