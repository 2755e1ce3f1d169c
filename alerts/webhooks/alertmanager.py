"""Alertmanager's webhook payload (version 4), byte for byte as Alertmanager sends it.

Alertmanager (notify/webhook/webhook.go) encodes a `Message`: the embedded
`template.Data` (receiver, status, alerts, groupLabels, commonLabels, commonAnnotations,
externalURL) followed by version, groupKey and truncatedAlerts, with Go's encoding/json:
map keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, times as RFC 3339 with the
fraction's trailing zeros cut, and the zero time for an alert not resolved yet.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from alerts.model import Alert, Notification

VERSION = "4"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_time(t: float | None) -> str:
    """Epoch seconds as Go's `time.Time` JSON (UTC, RFC 3339, microseconds at most: a
    float epoch holds no more); None is Go's zero time."""
    if t is None:
        return GO_ZERO_TIME
    secs, micros = divmod(round(t * 1_000_000), 1_000_000)
    text = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{micros:06d}".rstrip("0") if micros else "") + "Z"


def go_json(obj: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (without Encode's final newline)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8", "replace")


def _kv(labels) -> dict[str, str]:
    return {k: labels[k] for k in sorted(labels)}


def alert_object(alert: Alert, now: float) -> dict[str, Any]:
    """One element of `alerts[]`; `endsAt` is the zero time until the alert is resolved at
    `now`, as Alertmanager's types.Alerts hides an end not reached yet."""
    status = alert.status(now)
    return {
        "status": status,
        "labels": _kv(alert.labels),
        "annotations": _kv(alert.annotations),
        "startsAt": go_time(alert.starts_at),
        "endsAt": go_time(alert.ends_at if status == "resolved" else None),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def message(n: Notification) -> dict[str, Any]:
    """The payload as a dict, keys in Alertmanager's order."""
    return {
        "receiver": n.receiver,
        "status": n.status,
        "alerts": [alert_object(a, n.created_at) for a in n.alerts],
        "groupLabels": _kv(n.group_labels),
        "commonLabels": _kv(n.common_labels),
        "commonAnnotations": _kv(n.common_annotations),
        "externalURL": n.external_url,
        "version": VERSION,
        "groupKey": n.group_key,
        "truncatedAlerts": n.truncated_alerts,
    }


def render(n: Notification) -> bytes:
    """The payload's body."""
    return go_json(message(n))
