"""Property tests of the cost engine on random request schedules and random tick lengths."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine
from agent.record import RequestRecord
from collectors.base import DeviceInterval

pytestmark = pytest.mark.unit

MS = 1_000_000
PRICE = 3600.0  # per hour: 1 currency unit per busy device-second, easy to reason about


def record(rid, start, end, ft=None, prompt=None, completion=None, stream=True, tenant="t"):
    """A finished record as the proxy would make it."""
    return RequestRecord(
        rid, "0" * 32, "0" * 16, tenant, "m", "chat", "/v1/chat/completions", stream, 0.0,
        start, end, ft, prompt_tokens=prompt, completion_tokens=completion,
    )  # fmt: skip


def interval(a, b, busy=1.0, device="cpu:h"):
    return DeviceInterval(device, "cpu-core", a, b, (b - a) / 1e9 * busy, (b - a) / 1e9, None)


class Sim:
    """Drives an engine with events in time order, with a clock that follows them."""

    def __init__(self, hold_s=30.0, forward=None, **cfg):
        self.now = 0
        self.out: list[RequestRecord] = []
        self.config = CostConfig(prices={"cpu-core": {"per_hour": PRICE}}, max_hold_s=hold_s, **cfg)
        self.forward = forward or self.out.append
        self.engine = CostEngine(self.config, self.forward, clock=self.clock)

    def clock(self) -> int:
        return self.now

    def run(self, events):
        # At equal times: ticks first (delivered at their end), then begins, then finishes.
        for t, kind, payload in sorted(events, key=lambda e: (e[0], e[1])):
            self.now = t
            if kind == 0:
                self.engine.on_intervals([interval(*payload)])
            elif kind == 1:
                self.engine.begin(payload.request_id, payload.start_ns, payload.tenant, "m", True)
            elif kind == 2:
                self.engine.finish(payload)
            else:
                self.engine.housekeep()  # the service's timer
        self.engine.flush()
        return self.out


@st.composite
def schedules(draw, max_requests=12, long_ok=True):
    """Random tick lengths (with random utilisation) and requests that all end in them."""
    lengths = draw(st.lists(st.integers(1, 2000), min_size=1, max_size=15))
    bounds = [0]
    for n in lengths:
        bounds.append(bounds[-1] + n * MS)
    busy = draw(st.lists(st.floats(0, 1), min_size=len(lengths), max_size=len(lengths)))
    horizon = bounds[-1]
    reqs = []
    for i in range(draw(st.integers(0, max_requests))):
        start = draw(st.integers(0, horizon))
        end = draw(st.integers(start, horizon))
        ft = start + int((end - start) * draw(st.floats(0, 1)))
        known = draw(st.booleans()) or not long_ok
        prompt = draw(st.integers(0, 5000)) if known else None
        completion = draw(st.integers(0, 2000)) if known else None
        tenant = draw(st.sampled_from(["a", "b"]))
        reqs.append(
            record(f"r{i}", start, end, ft, prompt, completion, draw(st.booleans()), tenant)
        )
    return bounds, busy, reqs


def events_of(bounds, busy, reqs):
    ev = [(b, 0, (a, b, u)) for a, b, u in zip(bounds, bounds[1:], busy, strict=False)]
    ev += [(r.start_ns, 1, r) for r in reqs] + [(r.end_ns, 2, r) for r in reqs]
    return ev


def uncovered_cost(bounds, busy, reqs):
    """Brute force: the cost of every part of every tick that no request covers."""
    idle = 0.0
    for (a, b), u in zip(zip(bounds, bounds[1:], strict=False), busy, strict=False):
        spans = sorted((max(r.start_ns, a), min(r.end_ns, b)) for r in reqs)
        covered, reach = 0, a
        for s, e in spans:
            if e > max(s, reach):
                covered += e - max(s, reach)
                reach = e
        idle += (b - a - covered) / 1e9 * u
    return idle


@settings(max_examples=150, deadline=None)
@given(schedules(), st.sampled_from([0.5, 30.0]))
def test_conservation_no_negative_and_idle_is_exactly_uncovered_time(sched, hold_s):
    bounds, busy, reqs = sched
    sim = Sim(hold_s=hold_s)
    out = sim.run(events_of(bounds, busy, reqs))
    t = sim.engine.totals
    assert sorted(r.request_id for r in out) == sorted(r.request_id for r in reqs)
    assert all(r.cost_amount >= 0 and r.cost_device_seconds >= 0 for r in out)
    assert all(r.cost_currency == "USD" for r in out)
    metered = sum((b - a) / 1e9 * u for a, b, u in zip(bounds, bounds[1:], busy, strict=False))
    assert math.isclose(t.metered, metered, rel_tol=1e-9, abs_tol=1e-12)
    billed = sum(r.cost_amount for r in out) + t.idle + t.late
    assert math.isclose(billed, t.metered, rel_tol=1e-9, abs_tol=1e-9)
    # Idle is exactly the time no request was active: never request time, never missing.
    assert math.isclose(t.idle, uncovered_cost(bounds, busy, reqs), rel_tol=1e-6, abs_tol=1e-9)
    if hold_s * 1e9 > max(b - a for a, b in zip(bounds, bounds[1:], strict=False)):
        assert t.late == 0.0  # else a record may leave before a slow tick came: late share


@settings(max_examples=100, deadline=None)
@given(schedules(max_requests=1))
def test_one_request_alone_gets_the_whole_non_idle_cost(sched):
    bounds, busy, reqs = sched
    sim = Sim()
    out = sim.run(events_of(bounds, busy, reqs))
    t = sim.engine.totals
    alone = sum(r.cost_amount for r in out)
    assert math.isclose(alone, t.metered - t.idle, rel_tol=1e-9, abs_tol=1e-12)
    # and a request is never charged for time outside its own span (idle-only time)
    if reqs and reqs[0].end_ns == reqs[0].start_ns:
        assert alone == 0.0


@settings(max_examples=100, deadline=None)
@given(schedules(), st.integers(1, 10))
def test_records_leave_within_the_hold_bound(sched, hold_ticks):
    bounds, busy, reqs = sched
    longest_tick = max(b - a for a, b in zip(bounds, bounds[1:], strict=False))
    left = {}

    def forward(r):
        left.setdefault(r.request_id, sim.now)
        sim.out.append(r)

    sim = Sim(hold_s=hold_ticks * 0.1, forward=forward)
    timer = [(t, 3, None) for t in range(0, bounds[-1], 50 * MS)]
    sim.run(events_of(bounds, busy, reqs) + timer)
    bound = int(hold_ticks * 0.1 * 1e9) + longest_tick + 50 * MS
    for r in reqs:
        if r.end_ns < bounds[-1]:  # flush releases the rest at the very end
            assert left[r.request_id] <= r.end_ns + bound


def restarted(sim: Sim) -> CostEngine:
    """What `CostStage.restart` does, through JSON like a state file."""
    import json

    engine = sim.engine
    engine.flush()
    state = json.loads(json.dumps(engine.snapshot()))
    new = CostEngine(sim.config, sim.forward, clock=sim.clock)
    new.restore(state)
    return new


@settings(max_examples=100, deadline=None)
@given(schedules(), st.data())
def test_restart_at_a_tick_loses_no_request_cost(sched, data):
    bounds, busy, reqs = sched
    sim = Sim()
    at = data.draw(st.sampled_from(bounds[1:]))
    events = sorted(events_of(bounds, busy, reqs), key=lambda e: (e[0], e[1]))
    before = [e for e in events if (e[0], e[1]) <= (at, 0)]
    sim.run(before)  # run() ends with flush(): fine, restarted() flushes too
    sim.engine = restarted(sim)
    sim.run([e for e in events if (e[0], e[1]) > (at, 0)])
    t = sim.engine.totals
    assert sorted(r.request_id for r in sim.out) == sorted(r.request_id for r in reqs)
    assert t.late == 0.0
    billed = sum(r.cost_amount for r in sim.out) + t.idle
    assert math.isclose(billed, t.metered, rel_tol=1e-9, abs_tol=1e-9)


def test_requests_still_running_keep_their_accrued_cost_across_a_restart():
    sim = Sim()
    sim.run([(0, 1, record("x", 0, 0)), (10**9, 0, (0, 10**9, 1.0))])
    sim.engine = restarted(sim)
    sim.run([(2 * 10**9, 0, (10**9, 2 * 10**9, 1.0)), (2 * 10**9, 2, record("x", 0, 2 * 10**9))])
    (x,) = sim.out
    assert x.cost_amount == pytest.approx(2.0)  # both seconds, one from each engine
    assert sim.engine.totals.metered == pytest.approx(2.0)


@pytest.mark.parametrize("split", [False, True])
def test_work_is_spread_over_the_span_unless_split_at_first_token(split):
    # Two requests of one shape over the same 10 s; A's first token was seen at 9 s (a late
    # frontend), B's at 1 s. Ticks [0, 5) and [5, 10) cost the same.
    a = record("a", 0, 10_000 * MS, ft=9_000 * MS, prompt=10, completion=100)
    b = record("b", 0, 10_000 * MS, ft=1_000 * MS, prompt=10, completion=100)
    ticks = [(5_000 * MS, 0, (0, 5_000 * MS)), (10_000 * MS, 0, (5_000 * MS, 10_000 * MS))]
    out = Sim(split_at_first_token=split).run(
        [(0, 1, a), (0, 1, b), *ticks, (10_000 * MS, 2, a), (10_000 * MS, 2, b)]
    )
    cost = {r.request_id: r.cost_amount for r in out}
    assert math.isclose(cost["a"] + cost["b"], 10.0, rel_tol=1e-9)
    if split:  # A decoded only in the last second, so B pays most of the first tick
        assert cost["a"] < 0.8 * cost["b"]
    else:  # same work over the same span: same cost, whatever the first token says
        assert math.isclose(cost["a"], cost["b"], rel_tol=1e-9)


def test_a_record_reaching_the_engine_after_its_tick_leaves_at_its_finish():
    """An off-path check can hand a finished record on after the tick covering it was
    metered (the tick waits for it): its finish must release it, not the next timer."""
    sim = Sim()
    eng = sim.engine
    late = record("late", 0, 400 * MS)
    eng.begin("late", 0, "t", "m", True)
    sim.now = 1000 * MS
    eng.on_intervals([interval(0, 1000 * MS)])  # the request still runs for the engine
    assert sim.out == []
    eng.finish(late)
    assert [r.request_id for r in sim.out] == ["late"]
    assert sim.out[0].cost_amount == pytest.approx(0.4)  # its 400 ms of the busy second


def test_a_finish_with_nothing_to_settle_or_release_holds_its_record():
    sim = Sim()
    eng = sim.engine
    eng.on_intervals([interval(0, 1000 * MS)])
    eng.begin("r", 1100 * MS, "t", "m", True)
    sim.now = 1500 * MS
    eng.finish(record("r", 1100 * MS, 1400 * MS))
    assert sim.out == [] and eng.held == 1  # the next tick (or the timer) settles it
    sim.now = 2000 * MS
    eng.on_intervals([interval(1000 * MS, 2000 * MS)])
    assert [r.request_id for r in sim.out] == ["r"]


def test_a_finish_after_its_tick_was_settled_without_it_releases_it_at_once():
    """No tick pending: the tick covering the request was settled, with its estimate, once
    `max_hold_s` passed. Its late finish must release it then, not at the next timer."""
    sim = Sim(hold_s=1.0)
    eng = sim.engine
    eng.begin("late", 0, "t", "m", True)
    sim.now = 1000 * MS
    eng.on_intervals([interval(0, 1000 * MS)])
    sim.now = 2100 * MS
    eng.housekeep()  # the timer: the tick waited past max_hold_s, settled as it is
    assert sim.out == []
    eng.finish(record("late", 0, 400 * MS, prompt=10, completion=10))
    assert [r.request_id for r in sim.out] == ["late"]
    assert sim.out[0].cost_amount > 0  # the share it was given when the tick settled
