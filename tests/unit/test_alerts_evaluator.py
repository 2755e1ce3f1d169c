"""One evaluation: detectors' alerts into the engine, faults kept from resolving alerts.
The detectors are stand-ins (scripted results); the engine and the outbox are real, on a
real alerts database."""

from __future__ import annotations

import pytest

from alerts.config import AlertsConfig
from alerts.evaluator import ERROR, NOT_ENOUGH_DATA, OK, Evaluator, SourceSpec
from alerts.model import Alert
from alerts.source import SourceUnavailable

pytestmark = pytest.mark.unit


class ScriptedDetector:
    """Answers each evaluate() with the next scripted step: a list of alerts, or an
    exception to raise; `notes` as a real drift detector would leave them."""

    def __init__(self, steps: list) -> None:
        self.steps, self.notes = list(steps), []

    def evaluate(self, now: float) -> list[Alert]:
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        self.notes = ["not enough data: the current window has 3 requests"] if step is None else []
        return step or []

    def families(self) -> list:
        return []


def evaluator(tmp_path, detector) -> Evaluator:
    cfg = AlertsConfig(
        enabled=True,
        drift={"enabled": False},
        cost={"enabled": False},
        route={"receivers": ["hook"], "group_wait_s": 0.0},
        webhooks=[{"name": "hook", "url": "http://127.0.0.1:9/hook"}],
    )
    ev = Evaluator(cfg, tmp_path / "alerts.db", SourceSpec(store_path=tmp_path / "none.db"))
    ev.detectors = {"drift": detector}
    return ev


def firing(ev: Evaluator, now: float) -> list[str]:
    return sorted(
        s.alert.labels["feature"]
        for s in ev.engine.statuses(now)
        if s.alert.status(now) == "firing"
    )


DRIFT = Alert({"alertname": "InferwatchDrift", "feature": "completion_tokens"})


def test_an_unreadable_store_neither_raises_nor_resolves_and_is_counted(tmp_path):
    unreadable = SourceUnavailable("cannot read the store: database is locked")
    ev = evaluator(tmp_path, ScriptedDetector([[DRIFT], unreadable, []]))
    first = ev.run(100.0, {})
    assert first.outcomes["drift"][0] == OK and firing(ev, 100.0) == ["completion_tokens"]
    assert first.notifications == 1  # group_wait 0: flushed into the outbox at once
    locked = ev.run(160.0, {})
    assert locked.outcomes["drift"][0] == ERROR
    assert firing(ev, 160.0) == ["completion_tokens"]  # not resolved by the fault
    ev.run(220.0, {})  # readable again, and the drift is gone: now it resolves
    assert firing(ev, 220.0) == []


def test_a_window_with_too_few_requests_is_not_enough_data_not_a_resolve_of_nothing(tmp_path):
    ev = evaluator(tmp_path, ScriptedDetector([None, [DRIFT]]))
    assert ev.run(100.0, {}).outcomes["drift"][0] == NOT_ENOUGH_DATA
    assert firing(ev, 100.0) == []
    assert ev.run(160.0, {}).outcomes["drift"][0] == OK and firing(ev, 160.0) == [
        "completion_tokens"
    ]


def test_a_detector_that_crashes_is_counted_and_the_rest_goes_on(tmp_path):
    ev = evaluator(tmp_path, ScriptedDetector([[DRIFT], ValueError("a bug")]))
    ev.run(100.0, {})
    crashed = ev.run(160.0, {})
    assert crashed.outcomes["drift"][0] == ERROR
    assert firing(ev, 160.0) == ["completion_tokens"]
    assert any(f.name == "inferwatch_alerts_firing" for f in crashed.families)
