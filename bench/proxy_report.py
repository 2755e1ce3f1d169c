"""Figures of the proxy benchmark: per-round percentiles, medians over rounds, the table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

TARGETS = ("direct", "floor", "agent")


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (1..99), inclusive method."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def iqr(values: list[float]) -> tuple[float, float]:
    """(25th, 75th) percentile: the spread across rounds."""
    return pct(values, 25), pct(values, 75)


@dataclass
class Scenario:
    """One load shape, and per target the batches of each round (same index = same round)."""

    label: str
    concurrency: int
    stream: bool
    rounds: dict[str, list] = field(default_factory=lambda: {t: [] for t in TARGETS})

    def per_round(self, target: str, q: int) -> list[float]:
        """The q-th percentile latency (ms) of `target` in each round."""
        return [pct(b.latencies_ns, q) / 1e6 for b in self.rounds[target]]

    def added(self, target: str, q: int) -> list[float]:
        """Per round: target's q-th percentile minus direct's q-th percentile (ms)."""
        return [
            t - d
            for t, d in zip(self.per_round(target, q), self.per_round("direct", q), strict=True)
        ]

    def rps(self, target: str) -> list[float]:
        return [b.rps for b in self.rounds[target]]


@dataclass
class Row:
    """One line of the table: a value per target, the agent/floor ratio, and the spread."""

    name: str
    values: dict[str, float | None]
    spread: str = ""
    fmt: str = "{:.3f}"

    def cells(self) -> list[str]:
        out = [self.name]
        for t in TARGETS:
            v = self.values.get(t)
            out.append("-" if v is None else self.fmt.format(v))
        f, a = self.values.get("floor"), self.values.get("agent")
        out.append(f"{a / f:.2f}x" if f and a is not None else "-")
        out.append(self.spread)
        return out


HEAD = ["figure (median over rounds)", "direct", "floor", "agent", "agent/floor", "spread"]


def _spread(per_round: dict[str, list[float]], fmt: str) -> str:
    parts = []
    for t, vals in per_round.items():
        lo, hi = iqr(vals)
        parts.append(f"{t} {fmt.format(lo)}..{fmt.format(hi)}")
    return "; ".join(parts)


def latency_rows(s: Scenario) -> list[Row]:
    """Direct's own p50/p99 and the added p50/p99 of floor and agent."""
    what = "TTFC" if s.stream else "latency"
    rows = []
    for q in (50, 99):
        added = {t: s.added(t, q) for t in ("floor", "agent")}
        values = {"direct": statistics.median(s.per_round("direct", q))}
        values |= {t: statistics.median(v) for t, v in added.items()}
        name = f"{s.label}: {what} p{q} ms (floor/agent: added)"
        rows.append(Row(name, values, _spread(added, "{:.3f}")))
    return rows


def rps_row(s: Scenario) -> Row:
    per = {t: s.rps(t) for t in TARGETS}
    values = {t: statistics.median(v) for t, v in per.items()}
    return Row(f"{s.label}: requests/s", values, _spread(per, "{:.0f}"), "{:.0f}")


def render(rows: list[Row], markdown: bool) -> str:
    """The table as aligned text or as a markdown table."""
    lines = [HEAD] + [r.cells() for r in rows]
    if markdown:
        out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        out += ["| " + " | ".join(c) + " |" for c in lines[1:]]
        return "\n".join(out)
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEAD))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )
