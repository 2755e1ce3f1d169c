"""Restarts and a locked database: nothing forgotten, nothing sent twice, nothing lost."""

from __future__ import annotations

import sqlite3

import pytest

from alerts import db
from alerts.engine.config import RouteConfig
from alerts.engine.engine import AlertEngine, EngineBusy
from alerts.engine.state import EngineState
from alerts.model import Alert

pytestmark = pytest.mark.unit

ROUTE = RouteConfig(receivers=["hook"], group_wait_s=10, group_interval_s=60, repeat_interval_s=600)
A = Alert({"alertname": "X", "tenant": "a"}, {"summary": "s"})


def engine(path, sent, busy_ms=5000):
    return AlertEngine(ROUTE, [], EngineState(db.connect(path, busy_ms)), sent.append)


def test_restart_neither_resends_nor_forgets_a_firing_alert(tmp_path):
    path, sent = tmp_path / "alerts.db", []
    first = engine(path, sent)
    first.process(0, "cost", [A])
    assert len(first.tick(10)) == 1
    again = engine(path, sent)  # the agent restarted: a new engine on the same file
    for t in (70, 130, 550, 610):
        assert again.tick(t) == [], t  # before repeat_interval: nothing resent
    again.process(620, "cost", [])  # the detector no longer reports it: resolved
    [n] = again.tick(670)
    assert n.status == "resolved" and n.alerts[0].starts_at == 0 and n.alerts[0].ends_at == 620
    assert len(sent) == 2


def test_restart_keeps_the_repeat_interval(tmp_path):
    path, sent = tmp_path / "alerts.db", []
    engine(path, sent).process(0, "cost", [A])
    engine(path, sent).tick(10)
    e = engine(path, sent)
    for t in range(70, 611, 60):
        e.tick(t)
    assert len(sent) == 1
    e.process(620, "cost", [A])
    [n] = e.tick(670)  # 10 + 600 passed: the repeat, once
    assert n.status == "firing" and len(sent) == 2


def test_deliver_and_notification_state_commit_together(tmp_path):
    path, sent = tmp_path / "alerts.db", []

    def crash(notification):
        sent.append(notification)
        raise RuntimeError("power cut")

    broken = AlertEngine(ROUTE, [], EngineState(db.connect(path)), crash)
    broken.process(0, "cost", [A])
    with pytest.raises(RuntimeError):
        broken.tick(10)
    # The flush rolled back with the outbox row: the group is still due, and notified once.
    fine = []
    assert len(engine(path, fine).tick(11)) == 1 and len(fine) == 1


def hold_lock(path):
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_locked_store_report_kept_then_recorded_and_notified(tmp_path):
    path, sent = tmp_path / "alerts.db", []
    e = engine(path, sent, busy_ms=50)
    other = hold_lock(path)
    with pytest.raises(EngineBusy, match="locked by another connection"):
        e.process(0, "cost", [A])
    with pytest.raises(EngineBusy):
        e.tick(5)
    other.execute("COMMIT")
    assert e.tick(5) == []  # the kept report is recorded now; its group waits from 0
    [n] = e.tick(10)
    assert n.alerts[0].labels == A.labels and n.alerts[0].starts_at == 0


def test_locked_store_during_a_flush_delivers_nothing_then_retries(tmp_path):
    path, sent = tmp_path / "alerts.db", []
    e = engine(path, sent, busy_ms=50)
    e.process(0, "cost", [A])
    other = hold_lock(path)
    with pytest.raises(EngineBusy):
        e.tick(10)
    assert sent == []
    other.execute("ROLLBACK")
    assert len(e.tick(11)) == 1 and len(sent) == 1
