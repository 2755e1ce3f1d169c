"""Whether a group must be notified to a receiver again: Alertmanager's DedupStage.

notify/notify.go DedupStage.needsUpdate, compared against the notification log entry of
the last notification (the sets of fingerprints then firing and resolved):
- never notified: notify when something fires (a group that fired and resolved before
  its first flush says nothing);
- a firing alert not in the last notification: notify;
- nothing fires now: notify only if the last notification had firing alerts (this
  clears them, whatever send_resolved says);
- send_resolved and a resolved alert not yet notified as resolved: notify;
- else nothing changed: notify once `repeat_interval` passed since the last one.
"""

from __future__ import annotations

from alerts.engine.state import NflogEntry


def needs_update(
    entry: NflogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    repeat_s: float,
    now: float,
    send_resolved: bool = True,
) -> bool:
    """Alertmanager's needsUpdate for one group and receiver at `now`."""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.notified_at < now - repeat_s
