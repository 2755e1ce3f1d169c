"""Payload formats: Alertmanager's (Go's time and JSON rules), Slack's bounds, json, and
the codec the outbox stores notifications with."""

from __future__ import annotations

import json

import pytest

from alerts.model import Alert, Notification
from alerts.webhooks import alertmanager, codec, formats, slack

pytestmark = pytest.mark.unit

T0 = 1714557600.0  # 2024-05-01T10:00:00Z


def _notification(alerts: tuple[Alert, ...], status: str = "firing", **kw) -> Notification:
    return Notification(
        id="n-1",
        receiver="ops",
        group_key='{}:{alertname="CostSpike"}',
        status=status,
        group_labels={"alertname": "CostSpike"},
        alerts=alerts,
        created_at=T0 + 600,
        **kw,
    )


FIRING = Alert({"tenant": "b", "alertname": "CostSpike"}, {"summary": "3x"}, T0 + 0.25)
RESOLVED = Alert({"alertname": "CostSpike", "tenant": "a"}, {"summary": "3x"}, T0, T0 + 300.5)


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (None, "0001-01-01T00:00:00Z"),
        (T0, "2024-05-01T10:00:00Z"),
        (T0 + 0.25, "2024-05-01T10:00:00.25Z"),
        (T0 + 0.000001, "2024-05-01T10:00:00.000001Z"),
        (T0 + 0.12345678, "2024-05-01T10:00:00.123457Z"),
    ],
)
def test_go_time_formats_as_go_marshals_a_time(t, text):
    assert alertmanager.go_time(t) == text


def test_go_json_escapes_html_characters_and_line_separators_as_go_does():
    assert (
        alertmanager.go_json({"a": "<&>\u2028ü"})
        == '{"a":"\\u003c\\u0026\\u003e\\u2028ü"}'.encode()
    )


def test_alertmanager_payload_has_every_field_of_version_4():
    body = formats.render(_notification((FIRING, RESOLVED), truncated_alerts=3), "alertmanager")
    msg = json.loads(body)
    assert list(msg) == [
        "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "version", "groupKey", "truncatedAlerts",
    ]  # fmt: skip
    assert (msg["version"], msg["truncatedAlerts"], msg["receiver"]) == ("4", 3, "ops")
    assert msg["commonLabels"] == {"alertname": "CostSpike"}
    assert msg["commonAnnotations"] == {"summary": "3x"}
    firing, resolved = msg["alerts"]
    assert list(firing) == [
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    ]  # fmt: skip
    assert list(firing["labels"]) == ["alertname", "tenant"]  # Go sorts map keys
    assert (firing["status"], firing["endsAt"]) == ("firing", "0001-01-01T00:00:00Z")
    assert (resolved["status"], resolved["endsAt"]) == ("resolved", "2024-05-01T10:05:00.5Z")
    assert firing["fingerprint"] == FIRING.fingerprint
    assert b" " not in body.replace(b"3x", b"")  # compact


def test_an_end_still_ahead_is_hidden_as_alertmanager_hides_it():
    later = Alert({"alertname": "X"}, {}, T0, ends_at=T0 + 3600)  # created_at is T0+600
    [obj] = json.loads(alertmanager.render(_notification((later,))))["alerts"]
    assert (obj["status"], obj["endsAt"]) == ("firing", alertmanager.GO_ZERO_TIME)


def test_slack_message_is_coloured_by_status_and_titled_like_alertmanager():
    msg = json.loads(formats.render(_notification((FIRING, RESOLVED)), "slack"))
    assert msg["text"] == "[FIRING:1] CostSpike"
    [att] = msg["attachments"]
    assert att["color"] == slack.COLOURS["firing"]
    assert att["blocks"][0] == {
        "type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] CostSpike"},
    }  # fmt: skip
    assert "`tenant=b`" in att["blocks"][1]["text"]["text"]
    resolved = json.loads(formats.render(_notification((RESOLVED,), "resolved"), "slack"))
    assert resolved["attachments"][0]["color"] == "#2eb886"


def test_slack_message_stays_within_slacks_limits():
    big = tuple(
        Alert({"alertname": "X" * 400, "i": str(i)}, {"description": "<d>" * 2000}, T0)
        for i in range(80)
    )
    n = Notification("n", "ops", "k", "firing", {"alertname": "X" * 400}, big, T0, 5)
    msg = json.loads(formats.render(n, "slack"))
    blocks = msg["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    assert len(blocks[0]["text"]["text"]) == slack.HEADER_MAX
    assert all(len(b["text"]["text"]) <= slack.SECTION_MAX for b in blocks[1:-1])
    assert "&lt;d&gt;" in blocks[1]["text"]["text"] and "<d>" not in blocks[1]["text"]["text"]
    assert blocks[-1]["elements"][0]["text"] == "and 65 more alerts"  # 80 - 20 + 5 truncated


def test_json_format_is_the_notification_as_it_is():
    n = _notification((FIRING, RESOLVED))
    msg = json.loads(formats.render(n, "json"))
    assert msg["group_key"] == n.group_key and msg["created_at"] == n.created_at
    assert msg["alerts"][1] == {
        "labels": {"alertname": "CostSpike", "tenant": "a"}, "annotations": {"summary": "3x"},
        "starts_at": T0, "ends_at": T0 + 300.5, "generator_url": "",
        "status": "resolved", "fingerprint": RESOLVED.fingerprint,
    }  # fmt: skip


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown webhook format 'xml'"):
        formats.render(_notification((FIRING,)), "xml")


def test_codec_round_trips_a_notification_exactly():
    odd = Alert({"z": "1", "alertname": "ü\u2028<x>"}, {"d": "\x00"}, 0.1 + 0.2, 1e-320, "u")
    n = _notification((odd, RESOLVED), truncated_alerts=2, external_url="http://x")
    back = codec.loads(codec.dumps(n))
    assert back == n
    assert list(back.alerts[0].labels) == ["z", "alertname"]
    assert back.alerts[0].starts_at == 0.1 + 0.2
