"""Figures of the shadow benchmark (bench/shadow_overhead.py): each configuration's figure
over the pooled kept rounds, its ratio to the baseline's, and a 95% bootstrap interval of
that ratio. Pure: no I/O.

The interval resamples in two stages, as the data were made: kept rounds with replacement
(one draw picks the same round for every target, since a round's targets met the same
moment of a shared machine), then the requests within each drawn round. So a round in
which the machine was busy weighs on the interval as it should; with few rounds the
interval is wide, not falsely narrow."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

DIRECT = "direct"
Pool = dict[str, np.ndarray]  # "<target>.<measure>" -> values (a round's or pooled)


@dataclass
class Batch:
    """One target's requests in one round: client-side whole-response and first-chunk
    latency (ms), the agent's overhead header (ms), its CPU ms per request (None for direct)
    and the failed requests."""

    total_ms: list[float] = field(default_factory=list)
    ttfc_ms: list[float] = field(default_factory=list)
    overhead_ms: list[float] = field(default_factory=list)
    cpu_ms: float | None = None
    errors: list[str] = field(default_factory=list)
    elapsed_s: float | None = None  # the batch's wall time, for its requests/s

    def pool(self, target: str) -> Pool:
        """This batch as named arrays (the CPU and requests/s figures as arrays of one)."""
        out = {f"{target}.{m}": np.asarray(getattr(self, f"{m}_ms"), float) for m in MEASURES}
        if self.cpu_ms is not None:
            out[f"{target}.cpu"] = np.asarray([self.cpu_ms])
        if self.elapsed_s:
            out[f"{target}.rps"] = np.asarray([len(self.total_ms) / self.elapsed_s])
        return {k: v for k, v in out.items() if v.size}


MEASURES = ("total", "ttfc", "overhead")


@dataclass(frozen=True)
class Interval:
    """A ratio (or any figure) and its 95% bootstrap interval."""

    point: float
    low: float
    high: float

    @property
    def holds_one(self) -> bool:
        return self.low <= 1.0 <= self.high

    def __str__(self) -> str:
        return f"{self.point:.2f}x [{self.low:.2f}, {self.high:.2f}]"


def quantile(p: Pool, key: str, q: float) -> float:
    """The q-quantile (0..1) of `key` in pool `p`; NaN when the pool lacks it."""
    return float(np.quantile(p[key], q)) if key in p else float("nan")


def mean(p: Pool, key: str) -> float:
    """The mean of `key` in pool `p`; NaN when the pool lacks it."""
    return float(np.mean(p[key])) if key in p else float("nan")


def figures(targets: list[str]) -> dict[str, Callable[[Pool, str], float]]:
    """Per figure name, how to compute it for one target from a pool."""
    out: dict[str, Callable[[Pool, str], float]] = {
        "latency p50 ms": lambda p, t: quantile(p, f"{t}.total", 0.50),
        "latency p99 ms": lambda p, t: quantile(p, f"{t}.total", 0.99),
        "first chunk p50 ms": lambda p, t: quantile(p, f"{t}.ttfc", 0.50),
        "first chunk p99 ms": lambda p, t: quantile(p, f"{t}.ttfc", 0.99),
    }
    if DIRECT in targets:  # what the agent adds: its percentile minus the upstream's own
        out["added p50 ms"] = lambda p, t: (
            quantile(p, f"{t}.total", 0.5) - quantile(p, "direct.total", 0.5)
        )
        out["added p99 ms"] = lambda p, t: (
            quantile(p, f"{t}.total", 0.99) - quantile(p, "direct.total", 0.99)
        )
    out["overhead header p50 ms"] = lambda p, t: quantile(p, f"{t}.overhead", 0.50)
    out["agent CPU ms/request"] = lambda p, t: mean(p, f"{t}.cpu")
    return out


def _pool(rounds: list[Pool], picks, rng: np.random.Generator | None) -> Pool:
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for i in picks:
        for key, values in rounds[i].items():
            n = len(values)
            parts[key].append(values if rng is None else values[rng.integers(0, n, n)])
    return {k: np.concatenate(v) for k, v in parts.items()}


@dataclass
class Row:
    """One figure: its value per target (pooled rounds) and each compared target's ratio
    to the baseline with its interval (None where the figure does not apply)."""

    scenario: str
    name: str
    values: dict[str, float]
    ratios: dict[str, Interval | None]


def compare(
    label: str,
    rounds: list[dict[str, Batch]],
    base: str,
    n_boot: int = 2000,
    seed: int = 0,
    figs: dict[str, Callable[[Pool, str], float]] | None = None,
) -> list[Row]:
    """The rows of one scenario: every figure (`figs`, default `figures(targets)`) of every
    target, and every non-baseline agent's ratio to `base` with a two-stage bootstrap
    interval."""
    targets = list(rounds[0])
    pools = [{k: v for t, b in r.items() for k, v in b.pool(t).items()} for r in rounds]
    figs = figures(targets) if figs is None else figs
    agents = [t for t in targets if t not in (DIRECT, base)]
    whole = _pool(pools, range(len(pools)), None)
    rng = np.random.default_rng(seed)
    boots: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(n_boot):
        p = _pool(pools, rng.integers(0, len(pools), len(pools)), rng)
        for name, fig in figs.items():
            b = fig(p, base)
            for t in agents:
                boots[name, t].append(fig(p, t) / b if b > 0 else float("nan"))
    rows = []
    for name, fig in figs.items():
        values = {t: fig(whole, t) for t in targets}
        b = values[base]
        ratios = {t: _interval(values[t] / b, boots[name, t]) if b > 0 else None for t in agents}
        rows.append(Row(label, name, values, ratios))
    return rows


def _interval(point: float, draws: list[float]) -> Interval | None:
    a = np.asarray(draws)
    a = a[np.isfinite(a)]
    if not np.isfinite(point) or not a.size:
        return None
    low, high = np.quantile(a, [0.025, 0.975])
    return Interval(point, float(low), float(high))


def errors_row(label: str, rounds: list[dict[str, Batch]]) -> Row:
    """Failed requests per target over all kept rounds."""
    targets = list(rounds[0])
    values = {t: float(sum(len(r[t].errors) for r in rounds)) for t in targets}
    return Row(label, "failed requests, all rounds", values, {})
