"""The engine's per-request costs equal a straightforward tick-by-tick reference.

The reference takes each tick, lists by hand the requests whose span overlaps it, calls
`attribution.share` on them and adds the shares up: no engine bookkeeping at all. Only
the work-rate estimate for requests without a usage report is taken from the engine (it
depends on which requests had finished when the tick settled, which is the engine's
business); it is read off the engine's own `share` calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.cost import engine as engine_module
from agent.cost.attribution import Participants, share
from agent.cost.config import CostConfig
from agent.cost.slots import Columns
from tests.unit.test_cost_engine import MS, Sim, events_of, record, schedules

pytestmark = pytest.mark.unit


class EagerColumns(Columns):
    """Compacts at every allocation: a slot is reused as soon as the engine lets it go."""

    def alloc(self, start, key, in_use):
        self._free = []
        return super().alloc(start, key, in_use)


def _participants(reqs, cfg: CostConfig) -> Participants:
    """The requests as `share` takes them, straight from their records."""
    w, rows = cfg.weights, []
    for r in reqs:
        end = max(r.end_ns, r.start_ns)
        ft = r.first_token_ns
        # The Sim begins every request as a stream (the engine reads `stream` at begin).
        two = bool(cfg.split_at_first_token and ft is not None and r.start_ns < ft < end)
        known = r.prompt_tokens is not None or r.completion_tokens is not None
        pre, dec = w.prefill * (r.prompt_tokens or 0), w.decode * (r.completion_tokens or 0)
        rows.append((r.start_ns, ft if two else 0, end, pre, dec, two, known))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    kinds = (np.int64, np.int64, np.int64, np.float64, np.float64, bool, bool)
    return Participants(*(np.array(c, dtype=k) for c, k in zip(cols, kinds, strict=True)))


def reference(bounds, busy, reqs, cfg: CostConfig, rates: dict) -> dict[str, list[float]]:
    """Per request [cost, device-seconds]: each tick shared among the requests overlapping it."""
    out = {r.request_id: [0.0, 0.0] for r in reqs}
    for a, b, u in zip(bounds, bounds[1:], busy, strict=False):
        members = [r for r in reqs if r.start_ns < b and max(r.end_ns, r.start_ns) >= a]
        if not members:
            continue
        seconds = (b - a) / 1e9 * u  # the Sim's price: 1 unit per busy device-second
        split = share(a, b, _participants(members, cfg), rates.get((a, b), 1.0))
        for r, f in zip(members, split.fractions.tolist(), strict=True):
            out[r.request_id][0] += f * seconds
            out[r.request_id][1] += f * seconds
    return out


@settings(max_examples=150, deadline=None)
@given(schedules(max_requests=40), st.booleans(), st.sampled_from([EagerColumns, Columns]))
def test_per_request_costs_equal_the_tick_by_tick_reference(sched, split, columns):
    bounds, busy, reqs = sched
    sim = Sim(hold_s=1000.0, split_at_first_token=split)  # nothing settles early: exact shares
    # The column store is swapped for the eager one: a differential test of the two.
    sim.engine._cols = columns(1)
    rates = {}

    def spy(a, b, p, est_rate):
        rates[(a, b)] = est_rate
        return share(a, b, p, est_rate)

    real, engine_module.share = engine_module.share, spy
    try:
        out = sim.run(events_of(bounds, busy, reqs))
    finally:
        engine_module.share = real
    expected = reference(bounds, busy, reqs, sim.config, rates)
    assert sorted(r.request_id for r in out) == sorted(expected)
    for r in out:
        cost, seconds = expected[r.request_id]
        assert math.isclose(r.cost_amount, cost, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(r.cost_device_seconds, seconds, rel_tol=1e-9, abs_tol=1e-12)
        assert r.cost_joules == 0.0
    assert sim.engine.totals.late == 0.0


@settings(max_examples=150, deadline=None)
@given(schedules(max_requests=40), st.sampled_from([0.05, 0.5, 30.0]))
def test_reusing_slots_changes_no_result_even_with_late_shares(sched, hold_s):
    """Short holds release records before their last tick and forget them while ticks that
    include them are pending: a slot reused too early would show up here."""
    bounds, busy, reqs = sched
    timer = [(t, 3, None) for t in range(0, bounds[-1], 50 * MS)]
    runs = []
    for columns in (EagerColumns(1), Columns(4096)):
        sim = Sim(hold_s=hold_s)
        sim.engine._cols = columns
        out = sim.run(events_of(bounds, busy, reqs) + timer)
        costs = {r.request_id: (r.cost_amount, r.cost_device_seconds) for r in out}
        runs.append((costs, sim.engine.totals))
    (small, t1), (large, t2) = runs
    assert small.keys() == large.keys()
    for rid, (cost, seconds) in small.items():
        assert math.isclose(cost, large[rid][0], rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(seconds, large[rid][1], rel_tol=1e-9, abs_tol=1e-12)
    for name in ("metered", "idle", "attributed", "late"):
        assert math.isclose(getattr(t1, name), getattr(t2, name), rel_tol=1e-9, abs_tol=1e-12)


def test_a_slot_is_kept_while_a_pending_tick_includes_its_request():
    # x leaves (held past max_hold_s) before the tick [0, 2 s) it is in comes; when it comes
    # x is forgotten at once, but the tick waits for y. z begins meanwhile and must not get
    # x's slot: at 3 s the tick is settled (y still running, charged the estimate) and x's
    # share is late. x did 10.4 work units at 20.8 per s, which is then the estimated rate:
    # y is charged 2 s x 20.8, so x's share of the 2.0 the tick cost is 10.4 / 52.0.
    s = 1000 * MS
    sim = Sim(hold_s=0.1)
    sim.engine._cols = EagerColumns(1)
    x = record("x", 0, s // 2, prompt=10, completion=10)
    y = record("y", 0, 3 * s, prompt=10, completion=10)
    z = record("z", 5 * s // 2, 3 * s, prompt=10, completion=10)
    out = sim.run(
        [(0, 1, x), (0, 1, y), (s // 2, 2, x), (s, 3, None), (2 * s, 0, (0, 2 * s))]
        + [(5 * s // 2, 1, z), (3 * s, 0, (2 * s, 3 * s)), (3 * s, 2, y), (3 * s, 2, z)]
    )
    assert {r.request_id: r.cost_amount for r in out}["x"] == 0.0
    assert sim.engine.totals.late == pytest.approx(2.0 * 10.4 / 52.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=20))
def test_sums_by_key_are_the_same_whichever_way_they_are_counted(ids):
    from agent.cost.engine import _sum_by

    ids = np.array(ids)
    amounts = np.arange(len(ids)) / 7.0
    few, many = _sum_by(ids, amounts, 31), _sum_by(ids, amounts, 10_000)  # bincount, unique
    want = sorted(set(ids.tolist()))
    for present, sums in (few, many):
        assert present.tolist() == want
        for kid, total in zip(want, sums.tolist(), strict=True):
            assert math.isclose(total, float(amounts[ids == kid].sum()), rel_tol=1e-12)
