"""The canary controller over a real store file: steps advance after their hold when the
gate allows, a failed gate rolls back at once (counted, logged in the store), and a
restarted agent resumes where the canary was."""

from __future__ import annotations

import random

import pytest

from agent.config import load_settings
from agent.metrics import new_registry
from agent.routing.canary import CONTINUE, FAIL, PASS, Canary, Look
from agent.routing.router import Router
from agent.store import experiments as ev
from agent.store.experiments import ExperimentLog
from agent.upstream import Upstream

pytestmark = pytest.mark.unit

STEPS = [{"weight": 5, "hold_s": 60}, {"weight": 25, "hold_s": 60}]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Gate:
    """The looks the canary will get, in order (the last one repeats)."""

    def __init__(self, *looks: Look) -> None:
        self.looks, self.since = list(looks), []

    def __call__(self, since: float) -> Look:
        self.since.append(since)
        return self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]


def _canary(tmp_path, gate, clock, promote=False, require_pass=False, steps=STEPS):
    exp = {
        "name": "cn",
        "kind": "canary",
        "control": "a",
        "variant": "b",
        "steps": steps,
        "promote": promote,
        "gate": {"min_requests": 10, "require_pass": require_pass},
    }
    ups = [
        {"name": "a", "url": "http://a:1", "weight": 100},
        {"name": "b", "url": "http://b:1", "weight": 0},
    ]
    s = load_settings(None, {"upstreams": ups, "experiments": [exp]})
    router = Router(
        {u.name: Upstream(s.upstream, u.url) for u in s.upstreams},
        s.upstreams,
        s.experiments[0],
        random.Random(1).random,
    )
    registry, instruments = new_registry()
    log = ExperimentLog(tmp_path / "store.sqlite3")
    return Canary(s.experiments[0], router, log, gate, instruments, clock), router, registry, log


def _value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


ENOUGH = (200, 20)


async def test_steps_advance_after_their_hold_and_the_last_one_completes(tmp_path):
    clock = Clock()
    canary, router, registry, log = _canary(
        tmp_path, Gate(Look(CONTINUE, "so far so good", {}, ENOUGH)), clock
    )
    await canary.start()
    await canary.stop()  # looks are driven by hand below
    assert canary.step == 1 and router.shares() == {"a": 95.0, "b": 5.0}
    await canary.tick()
    assert canary.step == 1  # held 0 s of 60
    clock.now += 61
    await canary.tick()
    assert canary.step == 2 and router.shares() == {"a": 75.0, "b": 25.0}
    assert _value(registry, "inferwatch_experiment_canary_step", experiment="cn") == 2
    assert (
        _value(registry, "inferwatch_experiment_variant_weight_ratio", experiment="cn", variant="b")
        == 0.25
    )
    clock.now += 61
    await canary.tick()
    assert canary.state == "completed" and router.shares()["b"] == 25.0  # not promoted
    events = [e.event for e in log.events("cn")]
    assert events == [ev.STARTED, ev.STEP, ev.GATE, ev.STEP, ev.COMPLETED]  # first look noted


async def test_a_failed_gate_rolls_back_at_once_counts_and_records_why(tmp_path):
    clock = Clock()
    gate = Gate(
        Look(CONTINUE, "ok", {}, ENOUGH),
        Look(FAIL, "error rate +4.0 points [2.0, 6.0] over the 1.0-point margin", {"x": 1}, ENOUGH),
    )
    canary, router, registry, log = _canary(tmp_path, gate, clock)
    await canary.start()
    await canary.stop()
    await canary.tick()
    await canary.tick()
    assert canary.state == "rolled_back" and canary.step == 0
    assert router.shares() == {"a": 100.0, "b": 0.0}
    assert _value(registry, "inferwatch_experiment_rollbacks_total", experiment="cn") == 1
    assert (
        _value(registry, "inferwatch_experiment_canary_state", experiment="cn", state="rolled_back")
        == 1
    )
    assert (
        _value(registry, "inferwatch_experiment_canary_state", experiment="cn", state="running")
        == 0
    )
    last = log.events("cn")[-1]
    assert last.event == ev.ROLLED_BACK and "4.0 points" in last.detail["reason"]
    assert last.detail["control"] == "a" and last.detail["gate"] == {"x": 1}
    await canary.tick()  # no more looks once rolled back
    assert gate.since == [canary.step_started_at] * 2


async def test_too_few_requests_never_advance_and_require_pass_waits_for_a_pass(tmp_path):
    clock = Clock()
    canary, *_ = _canary(tmp_path, Gate(Look(CONTINUE, "few", {}, (200, 3))), clock)
    await canary.start()
    await canary.stop()
    clock.now += 1000
    await canary.tick()
    assert canary.step == 1  # hold long over, but the variant has 3 requests (min 10)
    clock2 = Clock()
    strict, *_ = _canary(
        tmp_path / "s",
        Gate(Look(CONTINUE, "ok", {}, ENOUGH), Look(PASS, "no worse", {}, ENOUGH)),
        clock2,
        require_pass=True,
    )
    (tmp_path / "s").mkdir()
    await strict.start()
    await strict.stop()
    clock2.now += 61
    await strict.tick()
    assert strict.step == 1
    await strict.tick()
    assert strict.step == 2


async def test_promote_sends_the_pair_to_the_variant_after_the_last_step(tmp_path):
    clock = Clock()
    canary, router, *_ = _canary(
        tmp_path,
        Gate(Look(PASS, "ok", {}, ENOUGH)),
        clock,
        promote=True,
        steps=[{"weight": 10, "hold_s": 0}],
    )
    await canary.start()
    await canary.stop()
    await canary.tick()
    assert canary.state == "promoted" and router.shares() == {"a": 0.0, "b": 100.0}


async def test_a_restarted_agent_resumes_the_step_and_a_rollback_stays_rolled_back(tmp_path):
    clock = Clock()
    canary, *_ = _canary(tmp_path, Gate(Look(CONTINUE, "ok", {}, ENOUGH)), clock)
    await canary.start()
    await canary.stop()
    clock.now += 61
    await canary.tick()
    assert canary.step == 2
    again, router, *_ = _canary(tmp_path, Gate(Look(FAIL, "slow", {}, ENOUGH)), clock)
    await again.start()
    await again.stop()
    assert (
        again.step == 2 and again.started_at == canary.started_at and router.shares()["b"] == 25.0
    )
    await again.tick()
    third, router, *_ = _canary(tmp_path, Gate(Look(PASS, "ok", {}, ENOUGH)), clock)
    await third.start()
    await third.stop()
    assert third.state == "rolled_back" and router.shares()["b"] == 0.0


async def test_a_changed_configuration_starts_the_canary_afresh(tmp_path):
    clock = Clock()
    canary, *_ = _canary(tmp_path, Gate(Look(FAIL, "slow", {}, ENOUGH)), clock)
    await canary.start()
    await canary.stop()
    await canary.tick()
    assert canary.state == "rolled_back"
    clock.now += 5
    fresh, router, _, log = _canary(
        tmp_path, Gate(Look(PASS, "ok", {}, ENOUGH)), clock, steps=[{"weight": 2, "hold_s": 60}]
    )
    await fresh.start()
    await fresh.stop()
    assert fresh.state == "running" and fresh.step == 1 and router.shares()["b"] == 2.0
    assert fresh.started_at == clock.now
    assert [e.event for e in log.events("cn")].count(ev.STARTED) == 2
