"""Figures, targets and table of the side-by-side benchmark (bench/peers.py). Pure: no I/O.

Each scenario's figures come from its pooled kept rounds (bench/shadow_stats.py): for a
non-streamed scenario the whole response's latency, for a streamed one the time to first
chunk; added = a target's percentile minus direct's; requests/s of each batch; the server's
CPU ms per request. Ratios to the floor and to LiteLLM carry a 95% two-stage bootstrap
interval (rounds, then requests within them), and each target of issue 22 is judged on its
interval: met (all of it on the right side of the bound), not met (all on the wrong side)
or undecided (it holds the bound: more rounds would tell).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.proxy_report import table
from bench.shadow_stats import DIRECT, Batch, Interval, Pool, Row, compare, mean, quantile

FLOOR, AGENT, LITELLM = "floor", "inferwatch", "litellm"
Figure = Callable[[Pool, str], float]


def figures(stream: bool) -> dict[str, Figure]:
    """A scenario's figures: first chunk when streamed, else the whole response."""
    m, what = ("ttfc", "first chunk") if stream else ("total", "latency")

    def added(q: float) -> Figure:
        return lambda p, t: quantile(p, f"{t}.{m}", q) - quantile(p, f"{DIRECT}.{m}", q)

    return {
        f"{what} p50 ms": lambda p, t: quantile(p, f"{t}.{m}", 0.5),
        f"{what} p99 ms": lambda p, t: quantile(p, f"{t}.{m}", 0.99),
        "added p50 ms": added(0.5),
        "added p99 ms": added(0.99),
        "requests/s": lambda p, t: mean(p, f"{t}.rps"),
        "server CPU ms/request": lambda p, t: mean(p, f"{t}.cpu"),
    }


@dataclass
class Scenario:
    """One load shape and its kept rounds (a Batch per target in each)."""

    label: str
    concurrency: int
    stream: bool
    rounds: list[dict[str, Batch]]


def rows(s: Scenario, n_boot: int) -> list[Row]:
    """The scenario's rows: ratios to the floor for every figure, and to LiteLLM (when it
    ran) for the two figures its targets name."""
    figs = figures(s.stream)
    out = compare(s.label, s.rounds, FLOOR, n_boot, figs=figs)
    if LITELLM in s.rounds[0]:
        some = {k: figs[k] for k in ("added p50 ms", "requests/s")}
        vs = {r.name: r.ratios for r in compare(s.label, s.rounds, LITELLM, n_boot, figs=some)}
        for r in out:
            r.ratios = {f"{t}/{FLOOR}": iv for t, iv in r.ratios.items()}
            if AGENT in vs.get(r.name, {}):
                r.ratios[f"{AGENT}/{LITELLM}"] = vs[r.name][AGENT]
    else:
        for r in out:
            r.ratios = {f"{t}/{FLOOR}": iv for t, iv in r.ratios.items()}
    return out


@dataclass(frozen=True)
class Target:
    """A bound on inferwatch's ratio to another target in one scenario."""

    stream: bool
    high: bool  # at the high concurrency (else at 1)
    figure: str
    base: str
    op: str  # "<=" or ">="
    bound: float
    says: str

    def scenario(self, high: int) -> str:
        return f"c{high if self.high else 1} {'stream' if self.stream else 'json'}"


TARGETS = [
    *(Target(s, False, f"added {q} ms", FLOOR, "<=", 1.5, f"added {q} at most 1.5x the floor's")
      for s in (False, True) for q in ("p50", "p99")),
    *(Target(s, True, "requests/s", FLOOR, ">=", 0.5, "requests/s at least half the floor's")
      for s in (False, True)),
    *(Target(s, False, "added p50 ms", LITELLM, "<=", 1 / 20, "added p50 20x less than LiteLLM's")
      for s in (False, True)),
    *(Target(s, True, "requests/s", LITELLM, ">=", 25.0, "requests/s 25x LiteLLM's")
      for s in (False, True)),
]  # fmt: skip


def judge(iv: Interval | None, op: str, bound: float) -> str:
    """met / not met / undecided, from where the interval lies against the bound."""
    if iv is None:
        return "no figure"
    good, bad = (
        (iv.high <= bound, iv.low > bound) if op == "<=" else (iv.low >= bound, iv.high < bound)
    )
    return "met" if good else "not met" if bad else "undecided (the interval holds the bound)"


def verdicts(all_rows: list[Row], high: int) -> list[str]:
    """One line per target of issue 22, with inferwatch's ratio and its interval."""
    by = {(r.scenario, r.name): r for r in all_rows}
    out = []
    for t in TARGETS:
        scen, col = t.scenario(high), f"{AGENT}/{t.base}"
        row = by.get((scen, t.figure))
        if row is None or col not in row.ratios:
            out.append(f"- not measured: {t.says} ({scen}): no {t.base} in this run")
            continue
        iv = row.ratios[col]
        out.append(f"- {judge(iv, t.op, t.bound)}: {t.says} ({scen}): {col} {iv or '-'}, "
                   f"target {t.op} {t.bound:g}")  # fmt: skip
    return out


def render(all_rows: list[Row], targets: list[str], markdown: bool) -> str:
    """The rows as a markdown table or aligned text."""
    cols = sorted({c for r in all_rows for c in r.ratios}, key=lambda c: (LITELLM in c, c))
    head = ["scenario", "figure", *targets, *(f"{c} [95% CI]" for c in cols)]

    def cell(v: float | None) -> str:
        return "-" if v is None or v != v else f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3f}"

    body = [
        [r.scenario, r.name, *(cell(r.values.get(t)) for t in targets),
         *(str(r.ratios.get(c) or "-") for c in cols)]
        for r in all_rows
    ]  # fmt: skip
    return table(head, body, markdown)
