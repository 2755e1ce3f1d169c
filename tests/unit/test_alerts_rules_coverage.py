"""Every shipped alert is labelled, annotated, documented, and unit-tested both ways
(a promtool test case where it fires and one where it stays silent)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alerts.rules.load import alert_rules, promtool_test_files, recorded_names

pytestmark = pytest.mark.unit

README = Path(__file__).parents[2] / "README.md"


def _cases() -> list[dict]:
    """Every alert_rule_test case of the promtool test files."""
    return [
        case
        for path in promtool_test_files()
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def _github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub makes of the headings (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_every_alert_fires_in_one_case_and_stays_silent_in_another():
    cases = _cases()
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {r["alert"] for r in alert_rules()}
    assert len(names) >= 15
    assert names - fired == set()
    assert names - silent == set()


def test_every_alert_has_a_severity_and_the_three_annotations():
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}


def test_every_runbook_url_points_to_a_readme_section_of_its_alert():
    anchors = _github_anchors(README.read_text())
    for rule in alert_rules():
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert base.endswith("/README.md")
        assert anchor == rule["alert"].lower()
        assert anchor in anchors, f"README has no section {rule['alert']}"


def test_recorded_names_are_level_metric_operations():
    for name in recorded_names():
        level, metric, operations = name.split(":")
        assert level and metric and operations, name
