"""Time no meter covered is never billed as a silent 0: the records it touches say
`cost_status: unmetered` (their amount the metered part only), and a counter counts them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from agent.config import MetricsConfig
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine
from agent.cost.metrics import CostMetrics
from agent.metrics import new_registry
from agent.record import COST_FINAL, COST_UNMETERED
from tests.unit.test_cost_engine import interval, record

pytestmark = pytest.mark.unit

S = 1_000_000_000
UNMETERED = "inferwatch_cost_records_unmetered_total"


class Clock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


CONFIG = CostConfig(prices={"cpu-core": {"per_hour": 3600.0}}, max_hold_s=5.0)


@pytest.fixture
def eng():
    registry, instruments = new_registry()
    cfg = CONFIG
    sink = CostMetrics(instruments, cfg, MetricsConfig(), Budgets({}, "USD"))
    out, clock = [], Clock()
    engine = CostEngine(cfg, out.append, sink, clock=clock)
    return engine, out, clock, registry


def by_id(out):
    return {r.request_id: r for r in out}


def run(engine, clock, rid, start, end):
    engine.begin(rid, start, "t", "m", True)
    clock.now = end
    engine.finish(record(rid, start, end, None, 10, 10))


def test_an_interval_whose_use_was_not_measured_marks_its_records_unmetered(eng):
    engine, out, clock, registry = eng
    run(engine, clock, "a", 0, S // 2)  # in the interval vLLM's processes were found in
    run(engine, clock, "b", S + S // 4, S + S // 2)  # in the one they were not
    clock.now = 2 * S
    not_found = dataclasses.replace(interval(S, 2 * S, busy=0.0), metered=False)
    engine.on_intervals([interval(0, S), not_found])
    got = by_id(out)
    assert got["a"].cost_status == COST_FINAL and got["a"].cost_amount == pytest.approx(0.5)
    assert got["b"].cost_status == COST_UNMETERED and got["b"].cost_amount == 0.0
    assert registry.get_sample_value(UNMETERED, {"gen_ai_request_model": "m"}) == 1.0
    # the cost histogram takes only the whole one: a lower bound would pull it down
    assert registry.get_sample_value("inferwatch_cost_request_count", {
        "gen_ai_request_model": "m", "currency": "USD"}) == 1.0  # fmt: skip


def test_allocated_basis_needs_no_process_use_so_its_records_stay_final(eng):
    _, _, clock, _ = eng
    out = []
    cfg = CostConfig(prices={"cpu-core": {"per_hour": 3600.0}}, basis="allocated")
    engine = CostEngine(cfg, out.append, clock=clock)
    run(engine, clock, "a", 0, S // 2)
    clock.now = S
    engine.on_intervals([dataclasses.replace(interval(0, S, busy=0.0), metered=False)])
    (a,) = out
    assert a.cost_status == COST_FINAL and a.cost_amount == pytest.approx(0.5)


def test_with_no_meter_at_all_a_record_leaves_after_the_hold_as_unmetered_not_zero(eng):
    engine, out, clock, registry = eng
    run(engine, clock, "a", 0, S)
    clock.now = 7 * S  # past max_hold_s: no device ever metered anything
    engine.housekeep()
    (a,) = out
    assert a.cost_status == COST_UNMETERED and a.cost_amount == 0.0
    assert registry.get_sample_value(UNMETERED, {"gen_ai_request_model": "m"}) == 1.0


def test_a_stretch_a_device_skipped_between_two_intervals_marks_the_records_in_it(eng):
    engine, out, clock, _ = eng
    clock.now = S
    engine.on_intervals([interval(0, S)])
    run(engine, clock, "gap", S + S // 4, S + S // 2)  # the collection of [1, 2) s was lost
    run(engine, clock, "after", 2 * S + S // 4, 2 * S + S // 2)
    clock.now = 3 * S
    engine.on_intervals([interval(2 * S, 3 * S)])
    got = by_id(out)
    assert got["gap"].cost_status == COST_UNMETERED and got["gap"].cost_amount == 0.0
    assert got["after"].cost_status == COST_FINAL
    assert got["after"].cost_amount == pytest.approx(0.25)  # its quarter second, busy


def test_a_device_gone_leaves_the_later_records_unmetered_with_the_metered_part(eng):
    engine, out, clock, _ = eng
    gpu = "gpu:0"
    clock.now = S
    engine.on_intervals([interval(0, S), interval(0, S, device=gpu)])
    run(engine, clock, "both", S + S // 4, S + S // 2)
    clock.now = 2 * S
    engine.on_intervals([interval(S, 2 * S), interval(S, 2 * S, device=gpu)])
    run(engine, clock, "cpu-only", 2 * S + S // 4, 2 * S + S // 2)
    for k in range(3, 10):  # the GPU's meter is gone (NVML lost); the CPU's goes on
        clock.now = k * S
        engine.on_intervals([interval((k - 1) * S, k * S)])
    got = by_id(out)
    assert got["both"].cost_status == COST_FINAL
    assert got["both"].cost_amount == pytest.approx(0.5)  # a quarter second of each device
    assert got["cpu-only"].cost_status == COST_UNMETERED
    assert got["cpu-only"].cost_amount == pytest.approx(0.25)  # the CPU's part only


def test_a_request_begun_before_the_first_interval_is_unmetered(eng):
    engine, out, clock, _ = eng
    run(engine, clock, "early", 0, 2 * S)
    clock.now = 3 * S
    engine.on_intervals([interval(S, 3 * S)])  # the meter's first interval begins at 1 s
    (early,) = out
    assert early.cost_status == COST_UNMETERED
    assert early.cost_amount == pytest.approx(1.0)  # [1, 2) s, the metered part


def test_refused_requests_never_reached_the_model_so_their_zero_is_final(eng):
    engine, out, _, _ = eng
    engine.finish(record("refused", 0, S))
    (r,) = out
    assert r.cost_status == COST_FINAL and r.cost_amount == 0.0


def test_a_restart_keeps_what_each_device_metered_and_what_was_unmetered(eng):
    engine, out, clock, _ = eng
    engine.begin("gap", S // 2, "t", "m", True)
    clock.now = S
    engine.on_intervals([dataclasses.replace(interval(0, S), metered=False)])
    engine.begin("whole", S + S // 2, "t", "m", True)
    clock.now = 2 * S
    engine.on_intervals([interval(S, 2 * S)])
    engine.flush()  # what `CostStage.restart` does, through JSON like a state file
    new = CostEngine(CONFIG, out.append, clock=clock)
    new.restore(json.loads(json.dumps(engine.snapshot())))
    clock.now = 3 * S
    new.on_intervals([interval(2 * S, 3 * S)])
    for rid, start in (("gap", S // 2), ("whole", S + S // 2)):
        new.finish(record(rid, start, 3 * S - 1, None, 10, 10))
    new.housekeep()
    got = by_id(out)
    # begun in what the old engine metered, ended in what the new one did: whole
    assert got["whole"].cost_status == COST_FINAL
    assert got["whole"].cost_amount > 0
    assert got["gap"].cost_status == COST_UNMETERED  # running through the unmetered second


def test_a_record_the_engine_cannot_read_leaves_uncosted_and_the_batch_goes_on(eng):
    """Token counts an upstream sent as text (the proxy now drops them: belt and braces):
    the other records of the batch are costed, and none stays 'running' for ever."""
    engine, out, clock, _ = eng
    for rid in ("a", "bad", "c"):
        engine.begin(rid, 0, "t", "m", False)
    clock.now = S
    bad = record("bad", 0, S, prompt="12")
    engine.finish_many([record("a", 0, S, prompt=5), bad, record("c", 0, S, prompt=5)])
    engine.on_intervals([interval(0, S)])
    engine.flush()
    got = by_id(out)
    assert set(got) == {"a", "bad", "c"}
    assert got["bad"].cost_status is None and got["a"].cost_status is not None
    assert engine.snapshot()["running"] == []  # no phantom request left in flight
