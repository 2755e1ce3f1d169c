"""The shipped rule files read only series the agent exposes (agent/catalogue.yaml),
Prometheus' own, or their own recorded series; label matchers name real labels."""

from __future__ import annotations

import pytest

from agent.catalogue import load_catalogue
from alerts.rules.check import unknown_grouping_labels, unknown_labels, unknown_names
from alerts.rules.load import rules
from alerts.rules.promql import metric_names, selectors

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
    assert unknown_names(rules(), load_catalogue()) == set()


def test_the_name_check_refuses_undeclared_bare_histogram_and_counter_names():
    bad = [
        {"alert": "A", "expr": "rate(nope_total[5m]) > up"},
        {"alert": "B", "expr": "gen_ai_server_request_duration_seconds > 1"},  # no such series
        {"record": "x:inferwatch_upstream_errors:rate5m", "expr": "inferwatch_upstream_errors"},
        {"alert": "C", "expr": "x:inferwatch_upstream_errors:rate5m > scrape_duration_seconds"},
    ]
    assert unknown_names(bad, load_catalogue()) == {
        ("A", "nope_total"),
        ("B", "gen_ai_server_request_duration_seconds"),
        ("x:inferwatch_upstream_errors:rate5m", "inferwatch_upstream_errors"),
    }


def test_label_matchers_name_labels_of_the_metric():
    assert unknown_labels(rules(), load_catalogue()) == set()


def test_the_label_check_refuses_a_label_the_metric_lacks():
    bad = [
        {"alert": "A", "expr": 'hw_errors_total{hwtype="gpu", error_type="x"} > 0'},
        {"alert": "B", "expr": 'inferwatch_upstream_up{le="1"} == 0'},
        {"alert": "C", "expr": 'gen_ai_server_request_duration_seconds_bucket{le="1"}'},
    ]
    assert unknown_labels(bad, load_catalogue()) == {
        ("A", "hw_errors_total", "hwtype"),
        ("B", "inferwatch_upstream_up", "le"),
    }


def test_grouping_labels_are_labels_of_the_series_grouped():
    assert unknown_grouping_labels(rules(), load_catalogue()) == set()


def test_the_grouping_check_refuses_a_label_the_series_lack():
    duration = "gen_ai_server_request_duration_seconds"
    bad = [
        # The histograms carry no tenant: this would give one unlabelled series.
        {
            "record": "a:b:c",
            "expr": f"sum by (gen_ai_request_model, tenant) (rate({duration}_count[5m]))",
        },
        {"record": "d:e:f", "expr": f'max without (tenant) ({duration}_bucket{{le="1"}})'},
        # Fine: target labels, `le` on buckets, a label of the counter.
        {"record": "g:h:i", "expr": f"sum by (instance, le) (rate({duration}_bucket[5m]))"},
        {"record": "j:k:l", "expr": "sum by (tenant) (rate(inferwatch_requests_total[5m]))"},
        # Left out: a recorded series' labels are not in the catalogue.
        {"record": "m:n:o", "expr": "sum by (tenant) (a:b:c)"},
    ]
    assert unknown_grouping_labels(bad, load_catalogue()) == {
        ("a:b:c", f"{duration}_count", "tenant"),
        ("d:e:f", f"{duration}_bucket", "tenant"),
    }


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
