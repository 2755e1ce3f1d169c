"""Inhibition: a firing source alert mutes the target alerts that share its `equal` labels.

Matched on prometheus/alertmanager inhibit/inhibit.go (Inhibitor.Mutes, InhibitRule.
hasEqual): only firing source alerts count; a label in `equal` missing from both sides
counts as equal (both empty); an alert matching both the source and the target side is
not muted by itself or by another alert that also matches both sides (the
excludeTwoSidedMatch rule), so a rule cannot make alerts mute each other in a loop.
Silenced source alerts still inhibit, as there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from alerts.engine.config import InhibitRuleConfig
from alerts.engine.matchers import Matcher, matches_all, parse_matchers
from alerts.model import Alert


@dataclass(frozen=True)
class InhibitRule:
    """One parsed inhibit rule."""

    source: list[Matcher]
    target: list[Matcher]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, config: InhibitRuleConfig) -> InhibitRule:
        """Parse the rule's matchers (the config validated them already)."""
        return cls(
            parse_matchers(config.source_matchers),
            parse_matchers(config.target_matchers),
            tuple(config.equal),
        )

    def inhibitor(self, labels: Mapping[str, str], firing: Iterable[Alert]) -> str | None:
        """Fingerprint of a firing alert that mutes `labels` under this rule, else None."""
        if not matches_all(self.target, labels):
            return None
        two_sided = matches_all(self.source, labels)
        for alert in firing:
            if not matches_all(self.source, alert.labels):
                continue
            if two_sided and matches_all(self.target, alert.labels):
                continue
            if all(alert.labels.get(n, "") == labels.get(n, "") for n in self.equal):
                return alert.fingerprint
        return None


def inhibited_by(
    rules: list[InhibitRule], labels: Mapping[str, str], firing: list[Alert]
) -> str | None:
    """Fingerprint of the first firing alert that inhibits `labels`, else None."""
    for rule in rules:
        fp = rule.inhibitor(labels, firing)
        if fp is not None:
            return fp
    return None
