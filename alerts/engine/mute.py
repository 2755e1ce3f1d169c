"""Which alerts are muted at one moment: Alertmanager's MuteStage (silences, inhibition).

notify/notify.go MuteStage runs at each flush, on the group's alerts: an alert matched by
an active silence or inhibited by a firing alert is left out of the notification, but
stays in the group (types.Marker: `suppressed`, with the silences' ids or the
inhibiting alerts' fingerprints). Built once per flush, so silences are read once.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.engine.inhibit import InhibitRule, inhibited_by
from alerts.engine.matchers import Matcher, matches_all
from alerts.engine.silences import Silence
from alerts.model import Alert

ACTIVE, SUPPRESSED = "active", "suppressed"


@dataclass(frozen=True)
class AlertStatus:
    """An alert with its marker state: `active`, or `suppressed` by silences (their ids)
    or by inhibiting alerts (their fingerprints)."""

    alert: Alert
    state: str
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()


class MuteView:
    """Silences active at `now` and the firing alerts that may inhibit others."""

    def __init__(
        self, rules: list[InhibitRule], silences: list[Silence], firing: list[Alert], now: float
    ) -> None:
        self._rules, self._firing = rules, firing
        self._silences: list[tuple[str, list[Matcher]]] = [
            (s.id, s.parsed()) for s in silences if s.active(now)
        ]

    def status(self, alert: Alert) -> AlertStatus:
        """The alert's marker state."""
        silenced = tuple(sid for sid, ms in self._silences if matches_all(ms, alert.labels))
        inhibitor = inhibited_by(self._rules, alert.labels, self._firing)
        inhibitors = (inhibitor,) if inhibitor else ()
        state = SUPPRESSED if silenced or inhibitors else ACTIVE
        return AlertStatus(alert, state, silenced, inhibitors)

    def unmuted(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts neither silenced nor inhibited."""
        return [a for a in alerts if self.status(a).state == ACTIVE]
