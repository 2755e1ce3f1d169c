"""The canary gate: pass, fail or continue, from the confidence sequence of the variant's
regression against a tolerated maximum (non-inferiority with a margin), safe to call at
every look."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from numpy.typing import ArrayLike

from alerts.experiments.result import Direction
from alerts.experiments.sequential import Look, SequentialConfig, Summary, look


class Decision(enum.Enum):
    """PASS: the regression is below the maximum at the sequence's confidence; FAIL: it is
    above; CONTINUE: not yet known (or not enough data)."""

    PASS = "pass"
    FAIL = "fail"
    CONTINUE = "continue"


@dataclass(frozen=True)
class GateResult:
    """The decision, the look it came from (None before there is enough data), and the
    regression's interval on the compared scale (variant worse is positive)."""

    decision: Decision
    look: Look | None
    regression_low: float | None = None
    regression_high: float | None = None


def gate(
    control: ArrayLike | Summary,
    variant: ArrayLike | Summary,
    max_regression: float,
    *,
    direction: Direction = Direction.LOWER_IS_BETTER,
    log_scale: bool = False,
    config: SequentialConfig | None = None,
) -> GateResult:
    """Gate a canary. With `log_scale` (latencies) the arms are compared on logs and
    `max_regression` is relative (0.10: 10% slower); otherwise it is in the metric's units
    (0.01 of an error rate given as 0/1 outcomes or Summary.of_rate is one point)."""
    if not max_regression >= 0:
        raise ValueError(f"max_regression must be >= 0, got {max_regression}")
    cfg = config or SequentialConfig()
    c, v = _summary(control, log_scale), _summary(variant, log_scale)
    lk = look(c, v, cfg)
    if lk is None:
        return GateResult(Decision.CONTINUE, None)
    margin = math.log1p(max_regression) if c.log else max_regression
    worse = 1.0 if direction is Direction.LOWER_IS_BETTER else -1.0
    low, high = sorted((worse * lk.interval.low, worse * lk.interval.high))
    if low > margin:
        return GateResult(Decision.FAIL, lk, low, high)
    if high < margin:
        return GateResult(Decision.PASS, lk, low, high)
    return GateResult(Decision.CONTINUE, lk, low, high)


def _summary(arm: ArrayLike | Summary, log_scale: bool) -> Summary:
    if isinstance(arm, Summary):
        if arm.log != log_scale:
            raise ValueError(f"a Summary with log={arm.log} given with log_scale={log_scale}")
        return arm
    return Summary.of(arm, log=log_scale)
