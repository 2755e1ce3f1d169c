"""The cost stage: batching finishes, paced releases, stopping without holding records,
the state file."""

from __future__ import annotations

import asyncio

import pytest

from agent.config import MetricsConfig
from agent.cost import wiring
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.metrics import CostMetrics
from agent.cost.stage import SLICE as _SLICE
from agent.cost.stage import CostStage
from agent.metrics import new_registry
from agent.recordpath import InFlight
from tests.unit.test_cost_engine import interval, record

pytestmark = pytest.mark.unit

S = 1_000_000_000


def service(out, spread_s=0.0, **cfg):
    config = CostConfig(prices={"cpu-core": {"per_hour": 3600.0}}, **cfg)
    budgets = Budgets(config.budgets, "USD")
    sink = CostMetrics(new_registry()[1], config, MetricsConfig(), budgets)
    stage = CostStage(config, sink, budgets, clock=lambda: 0, spread_s=spread_s)
    stage.connect(out.append)
    return stage


def begin(svc, rid):
    svc.begin(InFlight(rid, 0, "t", "m", False))


async def test_finish_is_deferred_off_the_request_path_then_costed():
    out = []
    svc = service(out)
    await svc.start()
    begin(svc, "x")
    svc.process(record("x", 0, S // 2, None, 10, 10, stream=False))
    assert svc.engine.held == 0 and not out  # nothing done on the request path itself
    await asyncio.sleep(0)
    assert svc.engine.held == 1
    svc.on_intervals([interval(0, S)])
    assert not out  # released, handed on at the next loop turn
    await asyncio.sleep(0)
    (x,) = out
    assert x.cost_amount == pytest.approx(0.5)
    await svc.stop()


async def test_a_tick_releasing_many_records_hands_them_on_spread_over_time():
    spread = 0.2  # wide enough that a slow machine's few loop turns stay inside one gap
    out = []
    svc = service(out, spread_s=spread)
    await svc.start()  # the task that paces releases
    n = 10
    for i in range(n):
        begin(svc, f"r{i}")
        svc.process(record(f"r{i}", 0, S // 2, None, 10, 10, stream=False))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    svc.on_intervals([interval(0, S)])
    await asyncio.sleep(0)
    assert len(out) == 1  # the first on the next turn, never all at once
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(out) == 1  # the next one waits its share of the spread (0.02 s)
    while len(out) < n:
        await asyncio.sleep(spread / 50)
    assert loop.time() - t0 >= spread * 0.8  # nine gaps of spread / 10
    assert [r.request_id for r in out] == [f"r{i}" for i in range(n)]  # in release order
    assert sum(r.cost_amount for r in out) == pytest.approx(0.5)  # as one alone: busy half
    await svc.stop()


async def test_release_spread_zero_hands_slices_on_one_loop_turn_after_another():
    out = []
    svc = service(out, spread_s=0.0)
    await svc.start()
    n = 2 * _SLICE + 3
    for i in range(n):
        begin(svc, f"r{i}")
        svc.process(record(f"r{i}", 0, S // 2, None, 10, 10, stream=False))
    await asyncio.sleep(0)
    svc.on_intervals([interval(0, S)])
    seen = []
    for _ in range(3):
        await asyncio.sleep(0)
        seen.append(len(out))
    await svc.stop()
    assert seen == [_SLICE, 2 * _SLICE, n]


def test_the_release_spread_is_most_of_the_collector_interval():
    from agent.config import Settings

    def spread(overrides):
        return wiring.release_spread(Settings.model_validate(overrides).cost, None)

    settings = Settings.model_validate({"collectors": {"interval_s": 4.0}})
    assert wiring.release_spread(settings.cost, 4.0) == pytest.approx(3.0)
    assert wiring.release_spread(settings.cost, 60.0) == pytest.approx(10.0)
    assert spread({"cost": {"release_spread_s": 0.5}}) == pytest.approx(0.5)
    stage = wiring.build_cost_stage(settings, new_registry()[1])
    assert stage is not None and stage.name == "cost"
    assert (
        wiring.build_cost_stage(Settings.model_validate({"cost": {"enabled": False}}), {}) is None
    )


async def test_stop_hands_on_what_is_still_queued():
    out = []
    svc = service(out)  # not started: `stop` then gives the loop no turn
    for i in range(2 * _SLICE):
        begin(svc, f"r{i}")
        svc.process(record(f"r{i}", 0, S // 2, None, 10, 10, stream=False))
    await asyncio.sleep(0)
    svc.on_intervals([interval(0, S)])
    await svc.stop()
    assert len(out) == 2 * _SLICE
    # A request ending after the stop (a slice was still scheduled): out at once, no turn.
    begin(svc, "late")
    svc.process(record("late", 0, S, None, 10, 10, stream=False))
    svc.drain()
    assert out[-1].request_id == "late"


async def test_a_record_finishing_after_stop_is_released_at_once(tmp_path):
    out = []
    svc = service(out, state_path=str(tmp_path / "cost.json"), budgets={"t": 10.0})
    await svc.start()
    begin(svc, "x")
    svc.on_intervals([interval(0, S)])
    await svc.stop()
    svc.process(record("x", 0, S, None, 10, 10, stream=False))
    svc.drain()  # what the loop turn after `finish` does; the hand-on needs no further turn
    (x,) = out
    assert x.cost_amount == pytest.approx(1.0)  # what it had accrued by the stop
    again = service([], state_path=str(tmp_path / "cost.json"), budgets={"t": 10.0})
    await again.start()
    await again.stop()
    assert again.budgets.ratio("t") == pytest.approx(0.1)  # today's spend came back
