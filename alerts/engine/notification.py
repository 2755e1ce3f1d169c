"""One group's notification to one receiver, as Alertmanager's webhook notifier builds it.

notify/webhook/webhook.go: the alerts are sorted (types.AlertSlice: by `job`, then
`instance`, then the label set), cut to `max_alerts` with the rest counted in
truncatedAlerts; the status is `firing` when any alert of the group fires (taken before
the cut, as the template data is).
"""

from __future__ import annotations

import uuid

from alerts.engine.state import Group
from alerts.model import FIRING, RESOLVED, Alert, Notification


def build_notification(
    receiver: str,
    group: Group,
    alerts: list[Alert],
    now: float,
    max_alerts: int = 0,
    external_url: str = "",
) -> Notification:
    """A notification with a new id (uuid4 hex) of `alerts` at `now`."""
    ordered = sorted(alerts, key=_order)
    kept = ordered[:max_alerts] if max_alerts else ordered
    status = FIRING if any(a.status(now) == FIRING for a in ordered) else RESOLVED
    return Notification(
        id=uuid.uuid4().hex,
        receiver=receiver,
        group_key=group.key,
        status=status,
        group_labels=dict(group.labels),
        alerts=tuple(kept),
        created_at=now,
        truncated_alerts=len(ordered) - len(kept),
        external_url=external_url,
    )


def _order(a: Alert) -> tuple:
    return (a.labels.get("job", ""), a.labels.get("instance", ""), sorted(a.labels.items()))
