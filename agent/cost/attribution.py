"""The attribution rule, pure and clock-free: share one interval among the requests in it.

For an interval [a, b) and the requests that overlap it:

- The part of the interval covered by at least one request (the union of their active
  spans) is shared among them; the uncovered part is idle. So a request never pays for
  time when it was not active, and idle time never hides inside request costs.
- The covered part is shared in proportion to the work each request did inside [a, b):
  a request's work (prefill weight x prompt tokens + decode weight x completion tokens)
  spread evenly over [start, end). Marked `two_phase` (the engine's
  `cost.split_at_first_token`, off by default), prefill work is spread over
  [start, first token) and decode work over [first token, end) instead.
- A request whose tokens are unknown (still running, or ended without a usage report:
  cancelled, timed out) is charged an estimate: `est_rate` work per second of overlap,
  where the engine keeps `est_rate` as the mean work rate of recently finished requests.
- If the requests did no measurable work at all, the covered part is shared by overlap.

Inputs are numpy arrays (one entry per request) so that 1,000 requests cost well under
a millisecond; times are integers in ns (a running request's end is `RUNNING`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RUNNING = np.iinfo(np.int64).max  # end of a request that has not finished


@dataclass(frozen=True, slots=True)
class Participants:
    """The requests overlapping one interval, as parallel arrays."""

    start: np.ndarray  # int64 ns
    first_token: np.ndarray  # int64 ns; used only where `two_phase`
    end: np.ndarray  # int64 ns, RUNNING while running
    prefill: np.ndarray  # float: prefill weight x prompt tokens
    decode: np.ndarray  # float: decode weight x completion tokens
    two_phase: np.ndarray  # bool: prefill then decode, split at first_token
    known: np.ndarray  # bool: tokens known (else the estimate is used)


@dataclass(frozen=True, slots=True)
class Split:
    """How an interval divides: per-request fractions (summing to 1 - idle) and idle."""

    fractions: np.ndarray
    idle: float


def _spread(a: int, b: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fraction of each span [lo, hi) that falls in [a, b); a zero-length span is a point."""
    length = (hi - lo).astype(np.float64)
    inside = np.minimum(hi, b) - np.maximum(lo, a)
    point = ((lo >= a) & (lo < b)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(length > 0, np.maximum(inside, 0) / length, point)
    return frac


def covered(a: int, b: int, start: np.ndarray, end: np.ndarray) -> float:
    """Fraction of [a, b) inside the union of the spans [start, end)."""
    s = np.minimum(np.maximum(start, a), b)  # as np.clip, at half its cost
    e = np.minimum(np.maximum(end, a), b)
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    before = np.concatenate(([a], reach[:-1]))
    gained = np.maximum(e - np.maximum(s, before), 0)
    return min(1.0, float(gained.sum()) / (b - a))


def overlap_seconds(a: int, b: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Seconds of each span [start, end) inside [a, b)."""
    return np.maximum(np.minimum(end, b) - np.maximum(start, a), 0) / 1e9


def work_in(a: int, b: int, p: Participants, est_rate: float) -> np.ndarray:
    """Each request's work inside [a, b): measured where tokens are known, else estimated."""
    two = p.two_phase & p.known
    if two.any():
        f_pre = _spread(a, b, p.start, np.where(two, p.first_token, p.end))
        f_dec = np.where(two, _spread(a, b, p.first_token, p.end), f_pre)
        measured = p.prefill * f_pre + p.decode * f_dec
    else:  # the default: all work spread over [start, end), one pass
        measured = (p.prefill + p.decode) * _spread(a, b, p.start, p.end)
    estimated = est_rate * overlap_seconds(a, b, p.start, p.end)
    return np.where(p.known, measured, estimated)


def share(a: int, b: int, p: Participants, est_rate: float) -> Split:
    """Divide interval [a, b) among the participants and idle (see the module docstring)."""
    n = len(p.start)
    if n == 0 or b <= a:
        return Split(np.zeros(n), 1.0)
    cover = covered(a, b, p.start, p.end)
    w = work_in(a, b, p, est_rate)
    total = float(w.sum())
    if not total > 0:  # no measurable work: share by time in the interval
        w = overlap_seconds(a, b, p.start, p.end)
        total = float(w.sum())
    if not total > 0 or cover <= 0:
        return Split(np.zeros(n), 1.0)
    return Split(w * (cover / total), 1.0 - cover)
