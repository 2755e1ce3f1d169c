"""Figures of the proxy benchmark: per-round percentiles, medians over rounds, the table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

PROXIES = ("floor", "agent", "candidate")  # what is compared against direct


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
    rounds: dict[str, list] = field(default_factory=lambda: defaultdict(list))

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

    def cells(self, targets: list[str]) -> list[str]:
        out = [self.name]
        for t in targets:
            v = self.values.get(t)
            out.append("-" if v is None else self.fmt.format(v))
        for num, den in ratios(targets):
            n, d = self.values.get(num), self.values.get(den)
            out.append(f"{n / d:.2f}x" if d and n is not None else "-")
        out.append(self.spread)
        return out


def ratios(targets: list[str]) -> list[tuple[str, str]]:
    """The ratio columns: agent/floor, and candidate/agent when a candidate runs."""
    return [("agent", "floor")] + ([("candidate", "agent")] if "candidate" in targets else [])


def head(targets: list[str]) -> list[str]:
    cols = [f"{n}/{d}" for n, d in ratios(targets)]
    return ["figure (median over rounds)", *targets, *cols, "spread"]


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
        added = {t: s.added(t, q) for t in PROXIES if t in s.rounds}
        values = {"direct": statistics.median(s.per_round("direct", q))}
        values |= {t: statistics.median(v) for t, v in added.items()}
        name = f"{s.label}: {what} p{q} ms (floor/agent: added)"
        rows.append(Row(name, values, _spread(added, "{:.3f}")))
    return rows


def rps_row(s: Scenario) -> Row:
    per = {t: s.rps(t) for t in s.rounds}
    values = {t: statistics.median(v) for t, v in per.items()}
    return Row(f"{s.label}: requests/s", values, _spread(per, "{:.0f}"), "{:.0f}")


def table(top: list[str], body: list[list[str]], markdown: bool) -> str:
    """A header and rows of cells as a markdown table, or as aligned text."""
    if markdown:
        out = ["| " + " | ".join(top) + " |", "|" + "---|" * len(top)]
        return "\n".join(out + ["| " + " | ".join(c) + " |" for c in body])
    lines = [top, *body]
    widths = [max(len(line[i]) for line in lines) for i in range(len(top))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def render(rows: list[Row], targets: list[str], markdown: bool) -> str:
    """The table as aligned text or as a markdown table."""
    return table(head(targets), [r.cells(targets) for r in rows], markdown)
