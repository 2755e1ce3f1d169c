"""A `Notification` as plain JSON data and back, exactly: the outbox stores it this way
and the `json` format sends it this way.

Floats go through `repr` (json's default), which round-trips every float exactly; label
and annotation order is kept.
"""

from __future__ import annotations

import json
from typing import Any

from alerts.model import Alert, Notification


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """The alert's fields under their own names."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "generator_url": alert.generator_url,
    }


def to_dict(n: Notification) -> dict[str, Any]:
    """The notification's fields under their own names, alerts as `alert_to_dict`."""
    return {
        "id": n.id,
        "receiver": n.receiver,
        "group_key": n.group_key,
        "status": n.status,
        "group_labels": dict(n.group_labels),
        "alerts": [alert_to_dict(a) for a in n.alerts],
        "created_at": n.created_at,
        "truncated_alerts": n.truncated_alerts,
        "external_url": n.external_url,
    }


def from_dict(data: dict[str, Any]) -> Notification:
    """Inverse of `to_dict`."""
    alerts = tuple(Alert(**a) for a in data["alerts"])
    return Notification(**{**data, "alerts": alerts})


def dumps(n: Notification) -> str:
    """Compact JSON text of `to_dict(n)`."""
    return json.dumps(to_dict(n), separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Notification:
    """Inverse of `dumps`."""
    return from_dict(json.loads(text))
