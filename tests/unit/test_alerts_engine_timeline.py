"""The engine's timers, grouping and dedup against timelines written from Alertmanager's
dispatch.go (aggrGroup.run/insert/flush) and notify.go (DedupStage.needsUpdate)."""

from __future__ import annotations

import pytest

from alerts import db
from alerts.engine.config import RouteConfig
from alerts.engine.engine import AlertEngine
from alerts.engine.state import EngineState
from alerts.model import Alert

pytestmark = pytest.mark.unit

GW, GI, RI = 10.0, 60.0, 600.0


def alert(name="X", **labels):
    return Alert({"alertname": name, **labels}, {"summary": f"{name} {labels}"})


def make(tmp_path, **route):
    sent = []
    cfg = RouteConfig(
        receivers=["hook"], group_wait_s=GW, group_interval_s=GI, repeat_interval_s=RI, **route
    )
    engine = AlertEngine(cfg, [], EngineState(db.connect(tmp_path / "alerts.db")), sent.append)
    return engine, sent


def summary(n):
    return n.status, sorted((a.labels.get("i", ""), a.status(n.created_at)) for a in n.alerts)


def test_group_wait_then_group_interval_then_strict_repeat_then_resolve(tmp_path):
    e, sent = make(tmp_path)
    e.process(0, "d", [alert(i="1")])
    assert e.tick(5) == [] and e.next_flush_at() == GW
    e.process(5, "d", [alert(i="1"), alert(i="2")])  # joins; the group's timer is unchanged
    [first] = e.tick(10)
    assert summary(first) == ("firing", [("1", "firing"), ("2", "firing")])
    assert first.group_key == '{}:{alertname="X"}' and first.group_labels == {"alertname": "X"}
    assert e.tick(69) == [] and e.tick(70) == []  # flushed at 70, nothing changed
    e.process(100, "d", [alert(i="1")])  # 2 is absent from the report: resolved at 100
    [second] = e.tick(130)
    assert summary(second) == ("firing", [("1", "firing"), ("2", "resolved")])
    assert second.alerts[1].ends_at == 100 and second.alerts[0].starts_at == 0
    assert e.tick(190) == []  # 2 was dropped after it was notified: nothing new
    # Repeat: entry.Timestamp.Before(now - repeat) is strict. Flushes come every 60 s
    # from 130; at 730 the last notification (130) is exactly 600 s old: not yet.
    for t in range(250, 731, 60):
        assert e.tick(t) == [], t
    [repeat] = e.tick(790)
    assert summary(repeat) == ("firing", [("1", "firing")])
    e.process(800, "d", [])
    [resolved] = e.tick(850)
    assert summary(resolved) == ("resolved", [("1", "resolved")])
    assert e.next_flush_at() is None  # the emptied group is gone
    assert len(sent) == 4 and len({n.id for n in sent}) == 4


def test_new_alert_in_a_flushed_group_waits_for_group_interval_not_group_wait(tmp_path):
    e, _ = make(tmp_path)
    e.process(0, "d", [alert(i="1")])
    assert len(e.tick(10)) == 1
    e.process(20, "d", [alert(i="1"), alert(i="2")])
    assert e.tick(35) == []  # 20 + group_wait passed, but the group flushed already
    [n] = e.tick(70)
    assert summary(n) == ("firing", [("1", "firing"), ("2", "firing")])


def test_alert_started_long_ago_flushes_its_new_group_at_once(tmp_path):
    e, _ = make(tmp_path)
    old = Alert({"alertname": "X"}, starts_at=100.0)
    e.process(500, "d", [old])  # startsAt + group_wait is before now: aggrGroup.insert
    [n] = e.tick(500)
    assert n.alerts[0].starts_at == 100.0


def test_fired_and_resolved_before_group_wait_is_never_notified(tmp_path):
    e, sent = make(tmp_path)
    e.process(0, "d", [alert()])
    e.process(5, "d", [])
    assert e.tick(10) == [] and sent == [] and e.next_flush_at() is None


def test_repeated_report_keeps_start_and_takes_new_annotations(tmp_path):
    e, _ = make(tmp_path)
    e.process(0, "d", [alert()])
    e.process(5, "d", [Alert({"alertname": "X"}, {"summary": "newer"}, starts_at=3.0)])
    [n] = e.tick(10)
    assert n.alerts[0].starts_at == 0 and n.alerts[0].annotations == {"summary": "newer"}


def test_resolved_then_firing_again_starts_anew(tmp_path):
    e, _ = make(tmp_path)
    e.process(0, "d", [alert()])
    e.tick(10)
    e.process(20, "d", [])
    e.tick(70)  # resolve sent, alert dropped, group gone
    e.process(100, "d", [alert()])
    assert e.next_flush_at() == 100 + GW  # a new group waits group_wait again
    [n] = e.tick(110)
    assert n.status == "firing" and n.alerts[0].starts_at == 100


def test_sources_resolve_only_their_own_alerts(tmp_path):
    e, _ = make(tmp_path)
    e.process(0, "drift", [alert("Drift")])
    e.process(0, "cost", [alert("Cost")])
    e.process(1, "cost", [])
    assert [s.alert.name for s in e.statuses(1) if s.alert.status(1) == "firing"] == ["Drift"]


def test_group_by_labels_and_all_labels(tmp_path):
    e, _ = make(tmp_path, group_by=["alertname", "tenant"])
    e.process(
        0, "d", [alert(tenant="a", i="1"), alert(tenant="b", i="1"), alert(tenant="a", i="2")]
    )
    keys = sorted((n.group_key, len(n.alerts)) for n in e.tick(10))
    assert keys == [('{}:{alertname="X", tenant="a"}', 2), ('{}:{alertname="X", tenant="b"}', 1)]
    e2, _ = make(tmp_path / "all", group_by=["..."])
    e2.process(0, "d", [alert(tenant="a", i="1"), alert(tenant="a", i="2")])
    assert sorted(n.group_key for n in e2.tick(10)) == [
        '{}:{alertname="X", i="1", tenant="a"}',
        '{}:{alertname="X", i="2", tenant="a"}',
    ]


def test_max_alerts_truncates_and_counts_the_rest(tmp_path):
    e, _ = make(tmp_path, max_alerts=2)
    e.process(0, "d", [alert(i=str(k)) for k in range(5)])
    [n] = e.tick(10)
    assert len(n.alerts) == 2 and n.truncated_alerts == 3


def test_send_resolved_false_sends_no_resolved_alerts(tmp_path):
    e, _ = make(tmp_path, send_resolved=False)
    e.process(0, "d", [alert(i="1"), alert(i="2")])
    e.tick(10)
    e.process(20, "d", [alert(i="1")])
    assert e.tick(70) == []  # 2 resolved: no news without send_resolved
    e.process(80, "d", [])
    assert e.tick(130) == []  # all resolved: logged, nothing to send


def test_every_receiver_gets_its_own_notification(tmp_path):
    sent = []
    cfg = RouteConfig(receivers=["a", "b"], group_wait_s=GW)
    e = AlertEngine(cfg, [], EngineState(db.connect(tmp_path / "x.db")), sent.append)
    e.process(0, "d", [alert()])
    e.tick(10)
    assert sorted(n.receiver for n in sent) == ["a", "b"] and sent[0].id != sent[1].id


def test_families_count_firing_alerts_by_name(tmp_path):
    e, _ = make(tmp_path)
    e.process(0, "d", [alert("A", i="1"), alert("A", i="2"), alert("B")])
    e.process(1, "d", [alert("A", i="1"), alert("A", i="2")])
    [fam] = e.families()
    assert fam.name == "inferwatch_alerts_firing"
    assert {s.labels["alertname"]: s.value for s in fam.samples} == {"A": 2}


def test_group_key_quotes_values_as_go_does():
    from alerts.engine.grouping import group_key

    # Go's strconv.Quote: printable runes kept, others escaped (checked against the real
    # Alertmanager in tests/integration/test_alerts_engine_vs_alertmanager.py).
    key = group_key({"b": 'q"\\\n', "a": "\u00e9\u00a0\x01\U000e0001"})
    assert key == '{}:{a="\u00e9\\u00a0\\x01\\U000e0001", b="q\\"\\\\\\n"}'
