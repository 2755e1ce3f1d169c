"""The checked-in PrometheusRule is the one `python -m alerts.rules.kube` generates from
the rule files, and holds every group of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerts.rules.kube import main, prometheus_rule, render
from alerts.rules.load import load_groups

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"


def test_checked_in_manifest_equals_the_generated_one():
    assert MANIFEST.read_text() == render(), (
        "regenerate: python -m alerts.rules.kube > deploy/kubernetes/base/prometheusrule.yaml"
    )


def test_manifest_is_a_prometheusrule_of_every_group():
    doc = yaml.safe_load(MANIFEST.read_text())
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    assert doc["metadata"]["name"] == "inferwatch"
    assert doc["spec"]["groups"] == load_groups()
    assert {g["name"] for g in doc["spec"]["groups"]} >= {"inferwatch.alerts", "inferwatch.cost"}


def test_namespace_is_set_only_when_asked():
    assert "namespace" not in prometheus_rule()["metadata"]
    assert prometheus_rule(namespace="monitoring")["metadata"]["namespace"] == "monitoring"


def test_the_module_prints_the_manifest(capsys):
    main()  # what `python -m alerts.rules.kube` runs
    assert capsys.readouterr().out == MANIFEST.read_text()
