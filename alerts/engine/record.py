"""Recording a detector's report: new alerts fire, absent ones resolve, repeats merge.

A report is the whole set of alerts one detector (`source`) sees active now, so an
alert it reported before and not now has resolved (ends_at = now). Repeated reports of
one fingerprint merge as Alertmanager's types.Alert.Merge does when the activity
ranges overlap (provider/mem Put); each alert lands in its group (dispatch.go
processAlert), a new group waiting `group_wait` from now, or flushing at once when its
alert started more than `group_wait` ago (aggrGroup.insert, before the first flush).
"""

from __future__ import annotations

from dataclasses import replace

from alerts.engine.config import RouteConfig
from alerts.engine.grouping import group_key, group_labels
from alerts.engine.state import EngineState, Group, StoredAlert
from alerts.model import FIRING, RESOLVED, Alert


def record(
    state: EngineState, route: RouteConfig, now: float, source: str, alerts: list[Alert]
) -> None:
    """Record what `source` reports active at `now` (inside the caller's transaction)."""
    seen = set()
    for alert in alerts:
        seen.add(alert.fingerprint)
        _upsert(state, route, now, source, alert)
    for s in state.alerts("source = ?", (source,)):
        if s.alert.fingerprint not in seen and s.alert.status(now) == FIRING:
            state.put_alert(replace(s, alert=replace(s.alert, ends_at=now)))


def _upsert(state: EngineState, route: RouteConfig, now: float, source: str, alert: Alert) -> None:
    old = state.alert(alert.fingerprint)
    if old is None and alert.status(now) == RESOLVED:
        return  # never seen firing: its group would say nothing (needs_update)
    merged = _merge(old.alert if old else None, alert, now)
    labels = group_labels(merged.labels, route.group_by)
    key = group_key(labels)
    state.put_alert(StoredAlert(merged, source, now, key))
    group = state.group(key) or Group(key, labels, now + route.group_wait_s, False)
    if not group.has_flushed and merged.starts_at + route.group_wait_s < now:
        group = replace(group, next_flush_at=now)  # aggrGroup.insert: waited enough
    state.put_group(group)


def _merge(old: Alert | None, new: Alert, now: float) -> Alert:
    # types.Alert.Merge, applied when the activity ranges overlap (mem provider Put):
    # a repeated report of a firing alert keeps the earliest start and takes the newest
    # annotations; one that resolved and fires again starts anew.
    start = new.starts_at or now
    if old is not None and old.status(now) == FIRING:
        start = min(old.starts_at, start)
    return replace(new, starts_at=start)
