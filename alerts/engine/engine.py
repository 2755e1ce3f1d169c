"""The alert engine: detectors' alerts in, Alertmanager-style grouped notifications out.

Matched on prometheus/alertmanager (dispatch/dispatch.go aggrGroup, notify/notify.go
MuteStage and DedupStage, types.Alert.Merge): alerts are grouped by the route's
`group_by` labels; a new group is flushed `group_wait` after it was created (at once
when its alert started more than `group_wait` ago, aggrGroup.insert), then every
`group_interval`; at each flush silenced and inhibited alerts are left out, the
receiver is notified when `dedup.needs_update` says so, and the alerts resolved at the
flush are dropped from the group (aggrGroup.flush: DeleteIfNotModified), the group
itself once empty (Alertmanager drops it at its next 30 s maintenance). Nothing runs
on its own: `process` records a detector's report and `tick` flushes the groups due, so
time is only what the caller passes in.

Durable: each report and each group flush is one SQLite transaction, and `deliver`
(the webhook outbox's `put`) is called inside the flush's transaction, so a crash can
neither lose a notification nor send one twice.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial

from prometheus_client.core import GaugeMetricFamily

from alerts.engine.config import InhibitRuleConfig, RouteConfig
from alerts.engine.dedup import needs_update
from alerts.engine.inhibit import InhibitRule
from alerts.engine.mute import AlertStatus, MuteView
from alerts.engine.notification import build_notification
from alerts.engine.record import record
from alerts.engine.state import EngineState, Group, NflogEntry
from alerts.model import FIRING, RESOLVED, Alert, Notification


class EngineBusy(RuntimeError):
    """The alerts database stayed locked past its busy timeout. Nothing was lost: a
    report not recorded is kept in memory and retried by the next `process` or `tick`;
    a group not flushed is flushed by the next `tick`."""


class AlertEngine:
    """Grouping, timers, inhibition and silences over an `EngineState`."""

    def __init__(
        self,
        route: RouteConfig,
        inhibit_rules: Iterable[InhibitRuleConfig | InhibitRule],
        store: EngineState,
        deliver: Callable[[Notification], None],
        clock: Callable[[], float] = time.time,
        external_url: str = "",
    ) -> None:
        self._route, self._state, self._deliver = route, store, deliver
        self._rules = [
            r if isinstance(r, InhibitRule) else InhibitRule.from_config(r) for r in inhibit_rules
        ]
        self._clock, self._url = clock, external_url
        self._pending: list[tuple[float, str, list[Alert]]] = []
        self._lock = threading.Lock()  # detectors' worker thread and the ticker may differ
        self._firing: Counter[str] = Counter()

    def process(self, now: float, source: str, alerts: list[Alert]) -> None:
        """Record the alerts `source` reports active at `now`; those it reported before
        and not now are resolved (ends_at = now). `EngineBusy` when the database is locked
        (the report is kept and retried)."""
        with self._lock:
            self._pending.append((now, source, list(alerts)))
            self._record_pending()
            self._count(now)

    def tick(self, now: float | None = None) -> list[Notification]:
        """Flush the groups due at `now` (default: the clock); returns the notifications
        delivered. `EngineBusy` when the database is locked (retried by the next tick)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._record_pending()
            sent: list[Notification] = []
            due = [g for g in self._state.groups() if g.next_flush_at <= now]
            if due:
                view = self._mute_view(now)  # once per tick, not per group
                for group in due:
                    sent += self._locked(partial(self._flush, group, now, view))
            self._count(now)
            return sent

    def next_flush_at(self) -> float | None:
        """When the next group is due (a caller may sleep until then), or None."""
        groups = self._state.groups()
        return groups[0].next_flush_at if groups else None

    def statuses(self, now: float | None = None) -> list[AlertStatus]:
        """Every alert the engine holds, with its silenced / inhibited marks at `now`."""
        now = self._clock() if now is None else now
        view = self._mute_view(now)
        return [view.status(s.alert) for s in self._state.alerts()]

    def families(self) -> list[GaugeMetricFamily]:
        """`inferwatch_alerts_firing{alertname}` after the last step. Silenced and
        inhibited alerts count, as in Prometheus' ALERTS: they fire, only unnotified."""
        fam = GaugeMetricFamily(
            "inferwatch_alerts_firing",
            "Alerts firing in the agent's alert engine, by name.",
            labels=["alertname"],
        )
        for name, count in sorted(self._firing.items()):
            fam.add_metric([name], count)
        return [fam]

    # ---- recording reports
    def _record_pending(self) -> None:
        while self._pending:
            self._locked(partial(record, self._state, self._route, *self._pending[0]))
            self._pending.pop(0)

    # ---- flushing groups
    def _flush(self, group: Group, now: float, view: MuteView) -> list[Notification]:
        members = [_as_of(s.alert, now) for s in self._state.alerts("group_key = ?", (group.key,))]
        gone = [a.fingerprint for a in members if a.status(now) == RESOLVED]
        self._state.put_group(
            replace(group, next_flush_at=now + self._route.group_interval_s, has_flushed=True)
        )
        sent = self._notify(group, view.unmuted(members), now)
        self._state.delete_alerts(gone)
        if len(gone) == len(members):
            self._state.delete_group(group.key)
        return sent

    def _notify(self, group: Group, alerts: list[Alert], now: float) -> list[Notification]:
        if not alerts:
            return []  # MuteStage left nothing: the pipeline stops, the log is untouched
        firing = frozenset(a.fingerprint for a in alerts if a.status(now) == FIRING)
        resolved = frozenset(a.fingerprint for a in alerts) - firing
        r = self._route
        send = alerts if r.send_resolved else [a for a in alerts if a.fingerprint in firing]
        sent = []
        for receiver in r.receivers:
            entry = self._state.nflog(group.key, receiver)
            if not needs_update(entry, firing, resolved, r.repeat_interval_s, now, r.send_resolved):
                continue
            if send:  # RetryStage: nothing left once resolved ones are dropped, still logged
                n = build_notification(receiver, group, send, now, r.max_alerts, self._url)
                sent.append(n)
                self._deliver(n)
            self._state.put_nflog(group.key, receiver, NflogEntry(now, firing, resolved))
        return sent

    def _mute_view(self, now: float) -> MuteView:
        firing = [s.alert for s in self._state.alerts() if s.alert.status(now) == FIRING]
        return MuteView(self._rules, self._state.silences.list(now), firing, now)

    # ---- helpers
    def _locked(self, step: Callable[[], list | None]) -> list:
        try:
            with self._state.transaction():
                return step() or []
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise EngineBusy(
                    f"alerts database is locked by another connection ({err}); "
                    "nothing was lost, the next tick retries"
                ) from err
            raise

    def _count(self, now: float) -> None:
        alerts = self._state.alerts()
        self._firing = Counter(s.alert.name for s in alerts if s.alert.status(now) == FIRING)


def _as_of(alert: Alert, now: float) -> Alert:
    # aggrGroup.flush: an alert firing at the flush is sent with no end time, so an
    # end still in the future does not read as resolved later on.
    return alert if alert.status(now) == RESOLVED else replace(alert, ends_at=None)
