"""The rows and the table of the base/head comparison: for each scenario and figure, the
median over rounds of each target and the paired head-versus-base spread. Pure: no I/O."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.ab_stats import (
    TARGETS,
    Batch,
    Scenario,
    Spread,
    cpu_ms_per_request,
    latency_ms,
    overhead_ms,
    paired,
)

COLUMNS = ["scenario", "figure", *TARGETS, "head vs base: median (min..max) over rounds"]
Figure = Callable[[Batch], "float | None"]


@dataclass
class Row:
    """One figure of one scenario: a median per target and the paired comparison."""

    scenario: str
    name: str
    values: dict[str, float | None]
    compare: Spread | None
    diff: bool = False  # compare is head-base (ms) rather than head/base
    note: str = ""  # shown in the last column when there is no comparison

    def cells(self) -> list[str]:
        vals = ["-" if self.values.get(t) is None else f"{self.values[t]:.3f}" for t in TARGETS]
        last = (
            self.note if self.compare is None and self.note else fmt_spread(self.compare, self.diff)
        )
        return [self.scenario, self.name, *vals, last]


def fmt_spread(s: Spread | None, diff: bool) -> str:
    """`1.02x (0.95..1.10)` for a ratio, `+0.012 ms (-0.050..+0.080)` for a difference."""
    if s is None:
        return "-"
    if diff:
        return f"{s.median:+.3f} ms ({s.low:+.3f}..{s.high:+.3f})"
    return f"{s.median:.2f}x ({s.low:.2f}..{s.high:.2f})"


def _per_round(s: Scenario, target: str, fig: Figure) -> list[float]:
    values = [fig(r[target]) for r in s.rounds]
    return [v for v in values if v is not None]


def _row(s: Scenario, name: str, fig: Figure, diff: bool = False) -> Row:
    per = {t: _per_round(s, t, fig) for t in TARGETS}
    values = {t: statistics.median(v) if v else None for t, v in per.items()}
    both = len(per["base"]) == len(per["head"]) == len(s.rounds) > 0
    compare = paired(per["base"], per["head"], diff) if both else None
    return Row(s.label, name, values, compare, diff)


def _added_row(s: Scenario, q: int) -> Row:
    """Target's q-th percentile minus direct's in the same round: what the agent adds."""
    per = {
        t: [latency_ms(r[t], q) - latency_ms(r["direct"], q) for r in s.rounds]
        for t in ("base", "head")
    }
    values: dict[str, float | None] = {"direct": None}
    values |= {t: statistics.median(v) if v else None for t, v in per.items()}
    compare = paired(per["base"], per["head"], diff=True) if s.rounds else None
    return Row(s.label, f"added p{q} ms (vs direct, same round)", values, compare, True)


def _failed_row(s: Scenario) -> Row:
    """Failed requests over all kept rounds, and the first reason seen (in the last column)."""
    errors = {t: [e for r in s.rounds for e in r[t].errors] for t in TARGETS}
    first = next((f"first: {t}: {e[0][:60]}" for t, e in errors.items() if e), "")
    values = {t: float(len(e)) for t, e in errors.items()}
    return Row(s.label, "failed requests, all rounds", values, None, note=first.replace("|", "/"))


def scenario_rows(s: Scenario) -> list[Row]:
    """The figures of one scenario, in table order."""
    rows = [
        _row(s, "latency p50 ms", lambda b: latency_ms(b, 50)),
        _row(s, "latency p99 ms", lambda b: latency_ms(b, 99)),
    ]
    if s.stream:
        rows.append(_row(s, "first chunk p50 ms", lambda b: latency_ms(b, 50, True)))
    rows += [_added_row(s, 50), _added_row(s, 99)]
    rows.append(_row(s, "overhead header p50 ms", overhead_ms, diff=True))
    rows.append(_row(s, "agent CPU ms/request", cpu_ms_per_request))
    return rows + [_failed_row(s)]


def render(rows: list[Row], markdown: bool) -> str:
    """The rows as an aligned text table, or as a markdown table."""
    lines = [COLUMNS] + [r.cells() for r in rows]
    if markdown:
        out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        return "\n".join(out + ["| " + " | ".join(c) + " |" for c in lines[1:]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
