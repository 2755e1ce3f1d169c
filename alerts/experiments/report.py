"""The comparison of an experiment's two arms over every metric, as one report.

`compare(data)` runs, variant against control: `latency_s`, `ttft_s`, `tpot_s`
(Mann-Whitney U with the Hodges-Lehmann shift; p50 and p95 bootstrap effects in `extra`),
`prompt_tokens`, `completion_tokens`, `cost_per_request` (Welch or bootstrap of the
means), `cost_per_1m_tokens` (ratio of sums, delta method), `error_rate`,
`safety_rate.<filter>` for every filter seen, `finish_reason.<reason>` for `length` and
every reason seen (two proportions: chi-square or Fisher, Newcombe interval; the share
among requests with a finish reason). A shadow experiment adds `paired.latency_s`,
`paired.completion_tokens` and `paired.cost` (Wilcoxon signed-rank on the pairs). Holm's
correction runs across all of them; verdicts are at the adjusted p-value. Lower is better
for every metric (fewer tokens cost less) but the share of `finish_reason.stop` (a natural
end); `direction` says so per metric.

`ExperimentReport.to_json()` has this shape (JSON-safe: no NaN; enums as their strings;
times in epoch seconds, null when open)::

    {"name": str, "kind": "split" | "canary" | "shadow", "control": str, "variant": str,
     "window": {"since": float | null, "until": float | null},
     "n": {"control": int, "variant": int, "pairs": int | null},
     "metrics": [{"metric": str, "test": str,
                  "direction": "lower_is_better" | "higher_is_better",
                  "verdict": "better" | "worse" | "no_difference" | "not_enough_data",
                  "n": {"control": int, "variant": int},
                  "p_value": float | null, "p_adjusted": float | null,
                  "effect": null | {"estimand": str, "control": float, "variant": float,
                                    "difference": float, "ci": [low, high],
                                    "ratio": float | null, "ratio_ci": [low, high] | null},
                  "extra": [effect, ...], "reason": str | null}, ...],
     "summary": {"better": [metric, ...], "worse": [...], "no_difference": [...],
                 "not_enough_data": [...]}}

`difference` is variant - control in the metric's unit (seconds, tokens, currency,
proportion 0..1); `ratio` is variant / control where it makes sense; `reason` says why a
metric has `not_enough_data`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from alerts.experiments.arms import Arm, ExperimentData
from alerts.experiments.latency import compare_latency
from alerts.experiments.means import compare_mean
from alerts.experiments.multiple import adjust
from alerts.experiments.paired import compare_paired
from alerts.experiments.per_token import compare_ratio_of_sums
from alerts.experiments.rates import compare_rate
from alerts.experiments.result import (
    Comparison,
    Direction,
    Effect,
    Interval,
    Verdict,
    not_enough_data,
)

LATENCIES = ("latency_s", "ttft_s", "tpot_s")
ALWAYS_REASONS = ("length",)  # truncations: reported even when neither arm has any
_TOKENS = ("prompt_tokens", "completion_tokens")
_LOWER, _HIGHER = Direction.LOWER_IS_BETTER, Direction.HIGHER_IS_BETTER
GOOD_REASONS = ("stop",)  # a natural end: more of it is better; every other reason less


@dataclass(frozen=True)
class ExperimentReport:
    """Every metric's comparison (Holm-adjusted) for one experiment's window."""

    data: ExperimentData
    metrics: tuple[Comparison, ...]

    def by_metric(self, metric: str) -> Comparison:
        """The comparison of one metric; KeyError naming the ones there are."""
        for c in self.metrics:
            if c.metric == metric:
                return c
        raise KeyError(f"no metric {metric!r} (have: {', '.join(self.names())})")

    def names(self) -> list[str]:
        """The metrics, in report order."""
        return [c.metric for c in self.metrics]

    def to_json(self) -> dict:
        """The report as plain JSON values, in the shape the module's docstring gives."""
        d = self.data
        summary: dict[str, list[str]] = {v.value: [] for v in Verdict}
        for c in self.metrics:
            summary[c.verdict.value].append(c.metric)
        return {
            "name": d.name,
            "kind": d.kind,
            "control": d.control.name,
            "variant": d.variant.name,
            "window": {"since": _num(d.since), "until": _num(d.until)},
            "n": {
                "control": d.control.n,
                "variant": d.variant.n,
                "pairs": d.pairs.n if d.pairs else None,
            },
            "metrics": [metric_json(c) for c in self.metrics],
            "summary": summary,
        }


def compare(data: ExperimentData) -> ExperimentReport:
    """Compare the variant with the control on every metric, Holm-adjusted (see module)."""
    c, v = data.control, data.variant
    results = [compare_latency(m, c.values(m), v.values(m)) for m in LATENCIES]
    results += [compare_mean(m, c.values(m), v.values(m)) for m in _TOKENS]
    results += [compare_mean("cost_per_request", c.values("cost"), v.values("cost"))]
    results.append(_per_million(c, v))
    results.append(
        compare_rate("error_rate", (int(c.errors.sum()), c.n), (int(v.errors.sum()), v.n))
    )
    results += _safety(c, v)
    results += _finish_reasons(c, v)
    if data.pairs is not None:
        results += [
            compare_paired(f"paired.{m}", *data.pairs.measures[m]) for m in data.pairs.measures
        ]
    return ExperimentReport(data, tuple(adjust(results)))


def _per_million(c: Arm, v: Arm) -> Comparison:
    """Cost per 1M tokens (prompt + completion) over the requests with both known."""

    def costed(arm: Arm) -> tuple[np.ndarray, np.ndarray]:
        tokens = arm.tokens()
        keep = np.isfinite(arm.cost) & np.isfinite(tokens)
        return arm.cost[keep], tokens[keep]

    (cc, ct), (vc, vt) = costed(c), costed(v)
    if min(ct.sum(), vt.sum()) <= 0:
        why = "an arm has no costed request with tokens"
        return not_enough_data(
            "cost_per_1m_tokens", "delta_method_z", _LOWER, (ct.size, vt.size), why
        )
    return compare_ratio_of_sums("cost_per_1m_tokens", (cc, ct), (vc, vt))


def _safety(c: Arm, v: Arm) -> list[Comparison]:
    """A hit rate per filter seen in either arm: requests it hit over all requests."""
    return [
        compare_rate(f"safety_rate.{f}", (c.safety.get(f, 0), c.n), (v.safety.get(f, 0), v.n))
        for f in sorted(c.safety.keys() | v.safety.keys())
    ]


def _finish_reasons(c: Arm, v: Arm) -> list[Comparison]:
    """The share of each finish reason among the requests that have one."""
    known_c = [r for r in c.finish_reasons if r]
    known_v = [r for r in v.finish_reasons if r]
    reasons = sorted(set(known_c) | set(known_v) | set(ALWAYS_REASONS))
    counts_c, counts_v = Counter(known_c), Counter(known_v)
    return [
        compare_rate(
            f"finish_reason.{r}",
            (counts_c[r], len(known_c)),
            (counts_v[r], len(known_v)),
            direction=_HIGHER if r in GOOD_REASONS else _LOWER,
        )
        for r in reasons
    ]


def metric_json(c: Comparison) -> dict:
    """One comparison as JSON values (see the module's docstring)."""
    return {
        "metric": c.metric,
        "test": c.test,
        "direction": c.direction.value,
        "verdict": c.verdict.value,
        "n": {"control": c.n_control, "variant": c.n_variant},
        "p_value": _num(c.p_value),
        "p_adjusted": _num(c.p_adjusted),
        "effect": effect_json(c.effect),
        "extra": [effect_json(e) for e in c.extra],
        "reason": c.reason,
    }


def effect_json(e: Effect | None) -> dict | None:
    """An effect as JSON values; non-finite numbers become null."""
    if e is None:
        return None
    return {
        "estimand": e.estimand,
        "control": _num(e.control),
        "variant": _num(e.variant),
        "difference": _num(e.difference),
        "ci": _interval(e.ci),
        "ratio": _num(e.ratio),
        "ratio_ci": _interval(e.ratio_ci),
    }


def _interval(i: Interval | None) -> list[float | None] | None:
    return None if i is None else [_num(i.low), _num(i.high)]


def _num(x: float | None) -> float | None:
    # JSON has no NaN or infinity: an unknown number is null.
    return float(x) if x is not None and math.isfinite(x) else None
