"""The canary gate over an experiment's arms: latency, TTFT, mean cost and error rate, each
against the margin `GateConfig` tolerates, by the always-valid confidence sequence of
`gate.gate` (so the controller may look every `check_every_s`). O(n) per look.

- latency and TTFT: on log scale; the margin is relative (0.10: 10% slower).
- cost per request: the mean, on its own scale; the relative margin is made absolute as
  `max_cost_regression` times the control's mean cost (the control mean is taken as known:
  with the arms this size its error is small beside the sequence's width).
- error rate: absolute, in points (0.01 is one point), on the Agresti-Caffo adjusted rates
  (one error and one success added to each arm), so arms with no errors still have a
  variance and a perfect canary can pass.

A canary changes its weights at each step, and a sequence assumes a fixed allocation: the
controller loads each step's records alone (`load(..., since=step_start)`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from agent.routing.config import GateConfig
from alerts.experiments.arms import ExperimentData
from alerts.experiments.gate import Decision, GateResult, gate
from alerts.experiments.sequential import SequentialConfig, Summary

RELATIVE, POINTS = "relative", "points"


@dataclass(frozen=True)
class MetricGate:
    """One gated metric: its decision, the regression's interval (variant worse is
    positive; a fraction for `relative`, a proportion for `points`; None before there is
    enough data), the margin on the same scale, the arm sizes and a one-line reason."""

    metric: str
    decision: Decision
    scale: str
    margin: float
    low: float | None
    high: float | None
    n_control: int
    n_variant: int
    reason: str

    def to_json(self) -> dict:
        """Plain JSON values: decision as its string, interval as [low, high] or null."""
        interval = None if self.low is None or self.high is None else [self.low, self.high]
        return {
            "metric": self.metric,
            "decision": self.decision.value,
            "scale": self.scale,
            "margin": self.margin,
            "interval": interval,
            "n": {"control": self.n_control, "variant": self.n_variant},
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GateOutcome:
    """FAIL if any metric fails, PASS when all pass, else CONTINUE; `reason` in one line."""

    decision: Decision
    metrics: tuple[MetricGate, ...]
    reason: str
    not_gated: tuple[str, ...] = ()  # metrics left out, and why

    def to_json(self) -> dict:
        """`{"decision", "reason", "metrics": [MetricGate.to_json(), ...], "not_gated"}`."""
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "metrics": [m.to_json() for m in self.metrics],
            "not_gated": list(self.not_gated),
        }


def evaluate_gate(data: ExperimentData, cfg: GateConfig) -> GateOutcome:
    """Gate the variant of `data` against its control with `cfg`'s margins (see module)."""
    seq = SequentialConfig(min_n=cfg.min_requests)
    c, v = data.control, data.variant
    cost_c, cost_v = c.values("cost"), v.values("cost")
    gated = [
        _log_scale(
            "latency", c.values("latency_s"), v.values("latency_s"), cfg.max_latency_regression, seq
        ),
        _log_scale("ttft", c.values("ttft_s"), v.values("ttft_s"), cfg.max_ttft_regression, seq),
    ]
    # An arm with no metered cost at all (cost off, or an upstream the agent does not
    # meter) can never be compared on cost: left out, rather than waiting forever.
    not_gated: tuple[str, ...] = ()
    if cost_c.size and cost_v.size:
        gated.append(_cost(cost_c, cost_v, cfg.max_cost_regression, seq))
    else:
        not_gated = ("cost: an arm has no metered cost (cost off, or an unmetered upstream)",)
    gated.append(
        _errors(
            (int(c.errors.sum()), c.n), (int(v.errors.sum()), v.n), cfg.max_error_rate_increase, seq
        )
    )
    metrics = tuple(gated)
    return GateOutcome(_overall(metrics), metrics, _reason(metrics), not_gated)


def _log_scale(
    metric: str, c: np.ndarray, v: np.ndarray, margin: float, seq: SequentialConfig
) -> MetricGate:
    n = (c.size, v.size)
    if min(n) < seq.min_n:
        return _waiting(metric, RELATIVE, margin, n, seq.min_n)
    res = gate(c, v, margin, log_scale=True, config=seq)
    return _result(metric, RELATIVE, margin, n, res, math.expm1)


def _cost(c: np.ndarray, v: np.ndarray, margin: float, seq: SequentialConfig) -> MetricGate:
    n = (c.size, v.size)
    if min(n) < seq.min_n:
        return _waiting("cost", RELATIVE, margin, n, seq.min_n)
    base = float(c.mean())
    if base <= 0:
        why = "cost: the control has no metered cost to be relative to"
        return MetricGate("cost", Decision.CONTINUE, RELATIVE, margin, None, None, *n, why)
    res = gate(c, v, margin * base, config=seq)
    return _result("cost", RELATIVE, margin, n, res, lambda x: x / base)


def _errors(
    c: tuple[int, int], v: tuple[int, int], margin: float, seq: SequentialConfig
) -> MetricGate:
    n = (c[1], v[1])
    if min(n) < seq.min_n:
        return _waiting("error rate", POINTS, margin, n, seq.min_n)
    res = gate(_adjusted_rate(*c), _adjusted_rate(*v), margin, config=seq)
    return _result("error rate", POINTS, margin, n, res, lambda x: x)


def _adjusted_rate(hits: int, n: int) -> Summary:
    """Agresti-Caffo: the rate of hits + 1 in n + 2, never 0 or 1, so its variance is > 0."""
    p = (hits + 1) / (n + 2)
    return Summary(n, p, p * (1 - p) * n / (n - 1))


def _result(
    metric: str,
    scale: str,
    margin: float,
    n: tuple[int, int],
    res: GateResult,
    to_scale: Callable[[float], float],
) -> MetricGate:
    if res.look is None or res.regression_low is None or res.regression_high is None:
        why = f"{metric}: no spread in the arms yet"
        return MetricGate(metric, res.decision, scale, margin, None, None, *n, why)
    low, high = to_scale(res.regression_low), to_scale(res.regression_high)
    shown = (to_scale(res.look.difference), low, high)
    why = _describe(metric, scale, margin, shown, res.decision)
    return MetricGate(metric, res.decision, scale, margin, low, high, *n, why)


def _waiting(metric: str, scale: str, margin: float, n: tuple[int, int], need: int) -> MetricGate:
    why = f"{metric}: not enough data (control {n[0]}, variant {n[1]}; {need} each needed)"
    return MetricGate(metric, Decision.CONTINUE, scale, margin, None, None, *n, why)


_WHERE = {Decision.FAIL: "over", Decision.PASS: "under", Decision.CONTINUE: "straddling"}


def _describe(
    metric: str, scale: str, margin: float, shown: tuple[float, float, float], decision: Decision
) -> str:
    """E.g. "error rate +4.1 points [2.0, 6.3] over the 1.0-point margin"."""
    mid, low, high = shown
    where = _WHERE[decision]
    if scale == POINTS:
        text = f"{100 * mid:+.1f} points [{100 * low:.1f}, {100 * high:.1f}]"
        return f"{metric} {text} {where} the {100 * margin:.1f}-point margin"
    text = f"{100 * mid:+.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
    return f"{metric} {text} {where} the {100 * margin:g}% margin"


def _overall(metrics: tuple[MetricGate, ...]) -> Decision:
    decisions = {m.decision for m in metrics}
    if Decision.FAIL in decisions:
        return Decision.FAIL
    return Decision.PASS if decisions == {Decision.PASS} else Decision.CONTINUE


def _reason(metrics: tuple[MetricGate, ...]) -> str:
    """The failing metrics' reasons; else the undecided ones'; else that all passed."""
    for decision in (Decision.FAIL, Decision.CONTINUE):
        picked = [m.reason for m in metrics if m.decision is decision]
        if picked:
            return "; ".join(picked)
    return "every gated metric within its margin: " + "; ".join(m.reason for m in metrics)
