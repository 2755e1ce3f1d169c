"""Payload formats of a webhook receiver: a `Notification` rendered as compact JSON bytes.

| format | body |
| --- | --- |
| `alertmanager` | Alertmanager's webhook payload, version 4 (alertmanager.py) |
| `slack` | Slack's incoming-webhook JSON (slack.py) |
| `json` | the notification's own fields, each alert with its `status` and `fingerprint` |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from alerts.model import Notification
from alerts.webhooks import alertmanager, codec, slack


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def json_message(n: Notification) -> dict[str, Any]:
    """The `json` format: `codec.to_dict` plus each alert's status and fingerprint."""
    data = codec.to_dict(n)
    for obj, alert in zip(data["alerts"], n.alerts, strict=True):
        obj["status"] = alert.status(n.created_at)
        obj["fingerprint"] = alert.fingerprint
    return data


RENDERERS: dict[str, Callable[[Notification], bytes]] = {
    "alertmanager": alertmanager.render,
    "slack": lambda n: _compact(slack.message(n)),
    "json": lambda n: _compact(json_message(n)),
}


def render(n: Notification, fmt: str) -> bytes:
    """The body of `n` in format `fmt` (one of RENDERERS); ValueError for another."""
    try:
        return RENDERERS[fmt](n)
    except KeyError:
        raise ValueError(f"unknown webhook format {fmt!r} (one of {sorted(RENDERERS)})") from None
