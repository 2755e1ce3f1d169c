"""Slack's incoming-webhook JSON: a `text` (the notification line phones show), and one
attachment coloured by status holding Block Kit blocks, bounded by Slack's limits.

Slack refuses a message with more than 50 blocks, a header over 150 characters or a
section text over 3,000 (400 invalid_blocks), and cuts `text` at 40,000; so alerts past
`MAX_ALERTS` are summed up in one line and every text is cut to its limit.
"""

from __future__ import annotations

from typing import Any

from alerts.model import FIRING, Alert, Notification

COLOURS = {FIRING: "#d63232", "resolved": "#2eb886"}
HEADER_MAX = 150
SECTION_MAX = 3000
TEXT_MAX = 3000  # well under Slack's 40,000: `text` is the one-line fallback
MAX_ALERTS = 20  # + header + the "more" line: far under Slack's 50 blocks


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: str) -> str:
    # Slack's mrkdwn reads these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def title(n: Notification) -> str:
    """Alertmanager's default title: `[FIRING:2] value value ...` of the group labels."""
    firing = sum(a.status(n.created_at) == FIRING for a in n.alerts)
    count = f":{firing}" if n.status == FIRING else ""
    return f"[{n.status.upper()}{count}] " + " ".join(n.group_labels.values())


def _section(alert: Alert, now: float) -> dict[str, Any]:
    summary = alert.annotations.get("summary") or alert.name
    lines = [f"*{_escape(summary)}* ({alert.status(now)})"]
    if alert.annotations.get("description"):
        lines.append(_escape(alert.annotations["description"]))
    lines.append(" ".join(f"`{_escape(k)}={_escape(v)}`" for k, v in alert.labels.items()))
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": cut("\n".join(lines), SECTION_MAX)},
    }


def message(n: Notification) -> dict[str, Any]:
    """The incoming-webhook payload."""
    head = title(n)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(head, HEADER_MAX)}}
    ]
    blocks += [_section(a, n.created_at) for a in n.alerts[:MAX_ALERTS]]
    more = len(n.alerts) - MAX_ALERTS + n.truncated_alerts
    if more > 0:
        line = f"and {more} more alerts"
        if n.external_url:
            line += f" <{n.external_url}|in inferwatch>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    return {
        "text": cut(head, TEXT_MAX),
        "attachments": [{"color": COLOURS[n.status], "blocks": blocks}],
    }
