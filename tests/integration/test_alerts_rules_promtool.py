"""The shipped rules and the example Alertmanager configuration, checked by the real
promtool and amtool (Debian's prometheus and prometheus-alertmanager packages)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from alerts.rules.kube import prometheus_rule
from alerts.rules.load import ALERTMANAGER_EXAMPLE, RULE_FILES, RULES_DIR, promtool_test_files

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]


def _run(*args: str) -> subprocess.CompletedProcess:
    assert shutil.which(args[0]), f"{args[0]} missing: install prometheus / prometheus-alertmanager"
    return subprocess.run(args, capture_output=True, text=True, cwd=RULES_DIR, timeout=120)


def test_promtool_checks_the_rule_files():
    out = _run("promtool", "check", "rules", *map(str, RULE_FILES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_checks_the_groups_of_the_prometheusrule(tmp_path):
    path = tmp_path / "from-kube.yml"
    path.write_text(yaml.safe_dump({"groups": prometheus_rule()["spec"]["groups"]}))
    out = _run("promtool", "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_refuses_a_broken_rule(tmp_path):
    # The check can fail: an expression that does not parse.
    path = tmp_path / "broken.yml"
    path.write_text("groups: [{name: g, rules: [{alert: A, expr: 'rate(x[5m]'}]}]\n")
    assert _run("promtool", "check", "rules", str(path)).returncode != 0


@pytest.mark.parametrize("test_file", promtool_test_files(), ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    out = _run("promtool", "test", "rules", str(test_file))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_unit_tests_fail_when_a_threshold_moves(tmp_path):
    # The unit tests hold the thresholds: the error ratio alert at 50% instead of 5%
    # no longer fires where the tests expect it.
    for path in RULE_FILES:
        text = path.read_text().replace("ratio_rate5m > 0.05", "ratio_rate5m > 0.5")
        (tmp_path / path.name).write_text(text)
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES_DIR / "tests" / "alerts_test.yml", tmp_path / "tests")
    out = _run("promtool", "test", "rules", str(tmp_path / "tests" / "alerts_test.yml"))
    assert out.returncode != 0
    assert "InferwatchHighErrorRatio" in out.stdout + out.stderr


def test_amtool_accepts_the_example_alertmanager_config():
    out = _run("amtool", "check-config", str(ALERTMANAGER_EXAMPLE))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 inhibit rules" in out.stdout and "1 receivers" in out.stdout
