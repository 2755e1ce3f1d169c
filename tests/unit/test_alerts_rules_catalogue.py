"""The shipped rule files read only series the agent exposes (agent/catalogue.yaml),
Prometheus' own, or their own recorded series; label matchers name real labels."""

from __future__ import annotations

import pytest

from agent.catalogue import load_catalogue
from alerts.rules.load import recorded_names, rules
from alerts.rules.promql import exposed_names, is_prometheus_own, metric_names, selectors

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (tenant) (rate(a_total{x="}("}[5m]))', {"a_total"}),
        ("1e6 * rate(b[1h] offset 167h30m) / on (m) group_left c", {"b", "c"}),
        ("histogram_quantile(0.99, lvl:d_bucket:rate5m)", {"lvl:d_bucket:rate5m"}),
        ("e > bool 1 and f unless g or max without (le) (h)", {"e", "f", "g", "h"}),
        ('label_replace(i, "look_back", "1d", "", "") >= 1 - inf', {"i"}),
        ("quantile_over_time(0.5, j[1d:5m]) + count(k) + time()", {"j", "k"}),
        ("sum by(a)(l) * ignoring(b) group_right(c) n", {"l", "n"}),
    ],
)
def test_names_are_found_past_strings_matchers_keywords_and_durations(expr, names):
    assert metric_names(expr) == names


def test_selectors_give_their_label_names():
    assert selectors('a{x="1", y=~"b|c"} / b{z!="}"}') == [("a", {"x", "y"}), ("b", {"z"})]


def test_every_name_in_every_expression_is_declared():
    exposed = exposed_names(load_catalogue())
    recorded = recorded_names()
    unknown = {
        (r.get("record") or r["alert"], name)
        for r in rules()
        for name in metric_names(r["expr"])
        if name not in exposed and name not in recorded and not is_prometheus_own(name)
    }
    assert unknown == set()


def test_the_check_refuses_an_undeclared_or_bare_histogram_name():
    exposed = exposed_names(load_catalogue())
    assert "gen_ai_server_request_duration_seconds_bucket" in exposed
    assert "gen_ai_server_request_duration_seconds" not in exposed  # no such series
    assert "inferwatch_upstream_errors" not in exposed  # counters end in _total


def test_label_matchers_name_labels_of_the_metric():
    specs = load_catalogue()
    exposed = exposed_names(specs)
    wrong = set()
    for r in rules():
        for name, labels in selectors(r["expr"]):
            if name in exposed:
                family = specs[exposed[name]]
                allowed = set(family.labels) | ({"le"} if name.endswith("_bucket") else set())
                wrong |= {(name, label) for label in labels - allowed}
    assert wrong == set()


def test_the_rules_read_every_family_they_are_meant_to():
    read = {n for r in rules() for n in metric_names(r["expr"])}
    for name in (
        "inferwatch_gpu_up",
        "hw_errors_total",
        "DCGM_FI_DEV_XID_ERRORS",
        "inferwatch_gpu_clock_event_reason",
        "inferwatch_vllm_requests_waiting",
        "inferwatch_vllm_kv_cache_usage_ratio",
        "inferwatch_budget_used_ratio",
        "inferwatch_cost_budget_ratio",
        "inferwatch_cost_requests_total",
        "gen_ai_server_time_to_first_token_seconds_bucket",
    ):
        assert name in read
