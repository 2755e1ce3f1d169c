"""Read the shipped rule files: their paths, groups, alerts and expressions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).parent
# The order Prometheus and the PrometheusRule list them in: recording rules first.
RULE_FILES = (RULES_DIR / "recording.yml", RULES_DIR / "alerts.yml")
TESTS_DIR = RULES_DIR / "tests"
ALERTMANAGER_EXAMPLE = RULES_DIR / "alertmanager.example.yml"


def load_groups(files: tuple[Path, ...] = RULE_FILES) -> list[dict]:
    """Every rule group of `files`, in order, as Prometheus' rule-file YAML has them."""
    groups: list[dict] = []
    for path in files:
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
            raise ValueError(f"{path}: not a Prometheus rule file (no list under 'groups')")
        groups.extend(doc["groups"])
    return groups


def rules(files: tuple[Path, ...] = RULE_FILES) -> Iterator[dict]:
    """Every rule (recording and alerting) of `files`."""
    for group in load_groups(files):
        yield from group["rules"]


def alert_rules(files: tuple[Path, ...] = RULE_FILES) -> list[dict]:
    """The alerting rules of `files`."""
    return [r for r in rules(files) if "alert" in r]


def recorded_names(files: tuple[Path, ...] = RULE_FILES) -> set[str]:
    """Names of the series the recording rules of `files` produce."""
    return {r["record"] for r in rules(files) if "record" in r}


def promtool_test_files() -> list[Path]:
    """The promtool unit-test files (`promtool test rules` input)."""
    return sorted(TESTS_DIR.glob("*.yml"))
