"""The alert and notification types shared by detectors, the alert engine and webhooks.

Alertmanager's data model, so its semantics and its webhook payload carry over: an alert
is identified by its label set (the fingerprint), fires from `starts_at`, and is resolved
once `ends_at` is set and past. Times are epoch seconds (wall clock: alerts leave the
process and are compared across restarts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FIRING = "firing"
RESOLVED = "resolved"

# FNV-1a 64-bit, as prometheus/common's model.LabelSet.Fingerprint uses it.
_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF  # model.SeparatorByte: cannot occur in UTF-8 text


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted names and
    values, each followed by the byte 0xff, as 16 hex digits."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as a detector raises it and the engine keeps it.

    `labels` identify it (`alertname` always among them); `annotations` describe it
    (`summary`, `description`, and for cost alerts the size, expected value and top
    contributors). `ends_at` None means firing with no known end.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    generator_url: str = ""

    @property
    def name(self) -> str:
        """The `alertname` label."""
        return self.labels.get("alertname", "")

    @property
    def fingerprint(self) -> str:
        """Alertmanager's fingerprint of the labels."""
        return fingerprint(self.labels)

    def status(self, now: float) -> str:
        """`firing`, or `resolved` once `ends_at` is set and not after `now`."""
        return RESOLVED if self.ends_at is not None and self.ends_at <= now else FIRING


@dataclass(frozen=True, slots=True)
class Notification:
    """What the engine hands to a receiver for one alert group at one moment.

    Everything Alertmanager's webhook payload (version 4) carries, so a receiver format
    is a pure rendering of this. `id` is unique per notification (the outbox's key and
    the idempotency key a receiver can use); `alerts` keep their own status.
    """

    id: str
    receiver: str
    group_key: str
    status: str  # firing when any alert of the group fires, else resolved
    group_labels: Mapping[str, str]
    alerts: tuple[Alert, ...]
    created_at: float
    truncated_alerts: int = 0
    external_url: str = ""

    @property
    def common_labels(self) -> dict[str, str]:
        """Labels with the same value in every alert of the notification."""
        return _common([a.labels for a in self.alerts])

    @property
    def common_annotations(self) -> dict[str, str]:
        """Annotations with the same value in every alert of the notification."""
        return _common([a.annotations for a in self.alerts])


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = dict(maps[0])
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}
