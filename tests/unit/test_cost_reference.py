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
from tests.unit.test_cost_engine import Sim, events_of, schedules

pytestmark = pytest.mark.unit


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
@given(schedules(max_requests=40), st.booleans())
def test_per_request_costs_equal_the_tick_by_tick_reference(sched, split):
    bounds, busy, reqs = sched
    sim = Sim(hold_s=1000.0, split_at_first_token=split)  # nothing settles early: exact shares
    rates = {}

    def spy(a, b, p, est_rate):
        rates[(a, b)] = est_rate
        return share(a, b, p, est_rate)

    real, engine_module.share = engine_module.share, spy
    try:
        out = sim.run(events_of(bounds, busy, reqs))
    finally:
        engine_module.share = real
    expected = reference(bounds, busy, reqs, sim.engine._cfg, rates)
    assert sorted(r.request_id for r in out) == sorted(expected)
    for r in out:
        cost, seconds = expected[r.request_id]
        assert math.isclose(r.cost_amount, cost, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(r.cost_device_seconds, seconds, rel_tol=1e-9, abs_tol=1e-12)
        assert r.cost_joules == 0.0
    assert sim.engine.totals.late == 0.0
