"""A rolled-back canary reaches the on-call engineer: events written by the agent's
ExperimentLog into a real store file, read by the evaluator's experiment detector, through
the real alert engine and outbox up to the Alertmanager webhook payload a receiver gets."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.store import schema
from agent.store.experiments import GATE, ROLLED_BACK, STARTED, STEP, ExperimentLog
from alerts import db
from alerts.config import AlertsConfig
from alerts.evaluator import ERROR, OK, Evaluator, SourceSpec
from alerts.experiments.detector import ExperimentDetector
from alerts.webhooks import alertmanager
from alerts.webhooks.outbox import Outbox

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0
REASON = "error rate +4.1 points [2.0, 6.3] over the 1.0-point margin"
PAIR = {"control": "stable", "variant": "candidate"}


def evaluator(tmp_path, store, **experiments) -> Evaluator:
    cfg = AlertsConfig(
        enabled=True,
        drift={"enabled": False},
        cost={"enabled": False},
        experiments=experiments,
        route={"receivers": ["hook"], "group_wait_s": 0.0, "group_interval_s": 60.0},
        webhooks=[{"name": "hook", "url": "http://127.0.0.1:9/hook"}],
        external_url="http://agent:8000/",
    )
    return Evaluator(cfg, tmp_path / "alerts.db", SourceSpec(store_path=store))


def canary_rolled_back(log: ExperimentLog, name: str = "canary-b", at: float = T0) -> None:
    """What the canary controller writes: started, two steps, a failed gate, rollback."""
    log.add(name, STARTED, detail={"kind": "canary", **PAIR, "config": {}}, at=at)
    log.add(name, STEP, step=1, weight=1.0, at=at + 600)
    log.add(name, STEP, step=2, weight=5.0, at=at + 1200)
    log.add(name, GATE, step=2, weight=5.0, detail={"verdict": "fail"}, at=at + 1500)
    detail = {"reason": REASON, **PAIR, "gate": {"error_rate": {"verdict": "fail"}}}
    log.add(name, ROLLED_BACK, step=2, weight=5.0, detail=detail, at=at + 1500)


def payloads(tmp_path) -> list[dict]:
    """The pending webhook payloads, oldest first; each is marked sent once read."""
    conn = db.connect(tmp_path / "alerts.db")
    try:
        outbox, out = Outbox(conn), []
        for entry in outbox.due(T0 + 10**6):
            out.append(json.loads(alertmanager.render(entry.notification)))
            outbox.mark_sent(entry.id, T0)
        return out
    finally:
        conn.close()


def test_a_rollback_is_notified_with_its_reason_pair_step_and_weight(tmp_path):
    store = tmp_path / "store.sqlite3"
    canary_rolled_back(ExperimentLog(store))
    ev = evaluator(tmp_path, store)
    result = ev.run(T0 + 1560, {})
    assert result.outcomes["experiments"][0] == OK and result.notifications == 1
    [payload] = payloads(tmp_path)
    assert payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"] == {
        "alertname": "InferwatchCanaryRolledBack",
        "experiment": "canary-b",
        "severity": "critical",
    }
    notes = alert["annotations"]
    assert notes["summary"] == "Canary canary-b rolled back to stable"
    assert notes["description"] == (
        "The gate of canary canary-b failed at step 2, with 5% of the pair's traffic on "
        f"candidate: {REASON}. All of the pair's traffic went back to stable; the alert "
        "resolves when the canary is started again."
    )
    assert (notes["reason"], notes["control"], notes["variant"]) == (REASON, *PAIR.values())
    assert (notes["step"], notes["weight"]) == ("2", "5%")
    assert alert["startsAt"] == "2023-11-14T22:38:20Z"  # the rollback's time, T0 + 1500
    assert alert["generatorURL"] == "http://agent:8000/inferwatch/experiments/canary-b"


def test_it_stays_firing_until_the_canary_is_started_again_then_resolves(tmp_path):
    store = tmp_path / "store.sqlite3"
    log = ExperimentLog(store)
    canary_rolled_back(log)
    ev = evaluator(tmp_path, store)
    ev.run(T0 + 1560, {})
    assert [p["status"] for p in payloads(tmp_path)] == ["firing"]
    ev.run(T0 + 7200, {})  # hours later, nothing restarted: still firing, nothing new
    assert payloads(tmp_path) == []
    assert [s.alert.status(T0 + 7200) for s in ev.engine.statuses(T0 + 7200)] == ["firing"]
    log.add("canary-b", STARTED, detail={"kind": "canary", **PAIR, "config": {}}, at=T0 + 7300)
    ev.run(T0 + 7360, {})
    [resolved] = payloads(tmp_path)
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["labels"]["experiment"] == "canary-b"
    assert (
        resolved["alerts"][0]["endsAt"] == "2023-11-15T00:16:00Z"
    )  # T0 + 7360: the evaluation that saw it


def test_only_the_rolled_back_experiment_alerts_and_a_second_rollback_fires_again(tmp_path):
    store = tmp_path / "store.sqlite3"
    log = ExperimentLog(store)
    canary_rolled_back(log, "canary-b")
    log.add("split-a", STARTED, detail={"kind": "split", **PAIR, "config": {}}, at=T0)
    canary_rolled_back(log, "canary-c", at=T0 - 9000)
    log.add("canary-c", STARTED, detail={"kind": "canary", **PAIR, "config": {}}, at=T0 - 10)
    detector = ExperimentDetector(store)
    assert [r.experiment for r in detector.rollbacks()] == ["canary-b"]
    canary_rolled_back(log, "canary-c", at=T0 + 100)  # the restarted one fails again
    assert sorted(a.labels["experiment"] for a in detector.evaluate()) == [
        "canary-b",
        "canary-c",
    ]


def test_an_old_store_without_the_events_table_raises_nothing(tmp_path):
    store = tmp_path / "old.sqlite3"
    conn = schema.connect(str(store))
    for version, step in enumerate(schema.MIGRATIONS[:5]):  # schema v5: before experiments
        for statement in schema._statements(step) if isinstance(step, str) else []:
            conn.execute(statement)
        if callable(step):
            step(conn)
        conn.execute(f"PRAGMA user_version={version + 1}")
    conn.close()
    ev = evaluator(tmp_path, store)
    result = ev.run(T0, {})
    assert result.outcomes["experiments"][0] == OK and result.notifications == 0
    assert payloads(tmp_path) == []
    with sqlite3.connect(store) as check:  # read-only: the store was not migrated
        assert check.execute("PRAGMA user_version").fetchone()[0] == 5


def test_a_missing_store_is_an_error_that_keeps_the_firing_alert(tmp_path):
    store = tmp_path / "store.sqlite3"
    canary_rolled_back(ExperimentLog(store))
    ev = evaluator(tmp_path, store)
    ev.run(T0 + 1560, {})
    store.rename(tmp_path / "moved.sqlite3")
    assert ev.run(T0 + 1620, {}).outcomes["experiments"][0] == ERROR
    assert [s.alert.status(T0 + 1620) for s in ev.engine.statuses(T0 + 1620)] == ["firing"]


def test_a_rollback_with_an_unreadable_detail_is_still_paged(tmp_path):
    store = tmp_path / "store.sqlite3"
    ExperimentLog(store).add("canary-b", ROLLED_BACK, at=T0)
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE experiment_events SET detail = 'not json'")
    [alert] = ExperimentDetector(store).evaluate()
    assert alert.annotations["summary"] == "Canary canary-b rolled back to unknown"
    assert (alert.annotations["step"], alert.annotations["weight"]) == ("unknown", "unknown")


def test_switched_off_it_is_not_evaluated(tmp_path):
    store = tmp_path / "store.sqlite3"
    canary_rolled_back(ExperimentLog(store))
    ev = evaluator(tmp_path, store, enabled=False)
    assert "experiments" not in ev.run(T0 + 1560, {}).outcomes
    assert payloads(tmp_path) == []
