"""The cost part of bench/gpu_compare.py: each request's metered cost from the agent's store,
and the metered totals on /metrics against the energy nvidia-smi measured over the same
samples x the configured price.

The check prices the GPU with `includes_energy: false`, so what the agent meters for it is
device-seconds x price per hour (the GPU-time part) plus joules x price per kWh (the energy
part); the energy part is compared with nvidia-smi's energy counter over the same span.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Prices:
    """What the check configured: the GPU's device type (its NVML name) and prices."""

    device_type: str
    per_hour: float
    per_kwh: float


def request_costs(store: Path) -> dict:
    """Per-request cost figures from the store's `requests` table (read-only)."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT cost_amount, cost_joules, cost_device_seconds, cost_status FROM requests"
        ).fetchall()
    finally:
        conn.close()
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[3]] = statuses.get(row[3], 0) + 1
    final = np.array([r[:3] for r in rows if r[3] == "final" and r[0] is not None], dtype=float)
    out: dict = {"records": len(rows), "statuses": statuses, "final": len(final)}
    if len(final):
        cost = final[:, 0]
        out |= {
            "mean": float(cost.mean()),
            "p50": float(np.percentile(cost, 50)),
            "p99": float(np.percentile(cost, 99)),
            "sum": float(cost.sum()),
            "joules_mean": float(final[:, 1].mean()),
            "device_seconds_mean": float(final[:, 2].mean()),
        }
    return out


def family_sum(values: dict, name: str, **match: str) -> float:
    """Sum of a family's samples whose labels include `match`."""
    return sum(
        v
        for (n, labels), v in values.items()
        if n == name and all(dict(labels).get(k) == w for k, w in match.items())
    )


def energy_cost(first: dict, last: dict, smi_joules: float, prices: Prices) -> dict:
    """The GPU's metered cost between two samples, split into GPU time and energy, and the
    energy part against nvidia-smi's joules over the same span x the price per kWh."""
    dev = {"device_type": prices.device_type}

    def delta(name: str) -> float:
        return family_sum(last, name, **dev) - family_sum(first, name, **dev)

    metered, seconds = (
        delta("inferwatch_cost_metered_total"),
        delta("inferwatch_cost_device_seconds_total"),
    )
    time_part = seconds * prices.per_hour / 3600
    expected = smi_joules * prices.per_kwh / J_PER_KWH
    energy_part = metered - time_part
    return {
        "metered": metered,
        "device_seconds": seconds,
        "time_part": time_part,
        "energy_part": energy_part,
        "smi_joules": smi_joules,
        "expected_energy_cost": expected,
        "ratio": energy_part / expected if expected else float("nan"),
    }


def conservation(last: dict) -> dict:
    """Requests' cost plus idle cost against the metered cost (all devices), at `last`."""
    metered = family_sum(last, "inferwatch_cost_metered_total")
    shared = family_sum(last, "inferwatch_cost_requests_total")
    idle = family_sum(last, "inferwatch_cost_idle_total")
    held = family_sum(last, "inferwatch_cost_records_held")
    ratio = (shared + idle) / metered if metered else float("nan")
    return {"metered": metered, "requests": shared, "idle": idle, "held": held, "ratio": ratio}
