"""The panel-query harness (tests/grafana_panels.py, tests/grafana_prometheus.py): which targets it finds on a board,
how it interpolates Grafana's variables, and what counts as data."""

from __future__ import annotations

import json

import pytest

from tests import grafana_panels as gp
from tests import grafana_prometheus as gprom

pytestmark = pytest.mark.unit

PROM = {"type": "prometheus", "uid": "${datasource}"}
TEMPLATING = [
    {"name": "datasource", "type": "datasource", "query": "prometheus"},
    {"name": "job", "type": "query", "includeAll": True, "multi": True, "allValue": ".*"},
    {"name": "q", "type": "custom", "current": {"text": "0.9", "value": "0.9"}},
    {"name": "k", "type": "constant", "query": "7"},
]


def write_board(tmp_path, panels, templating=TEMPLATING):
    path = tmp_path / "inferwatch-x.json"
    path.write_text(json.dumps({"panels": panels, "templating": {"list": templating}}))
    return path


def panel(title, *targets):
    return {"type": "timeseries", "title": title, "datasource": PROM, "targets": list(targets)}


def test_targets_include_collapsed_rows_and_skip_other_datasources(tmp_path):
    nested = panel("inner", {"refId": "A", "expr": "up", "datasource": PROM})
    board = write_board(
        tmp_path,
        [
            {"type": "row", "title": "open", "collapsed": False, "panels": []},
            panel("top", {"refId": "A", "expr": "a"}, {"refId": "B", "expr": "b", "instant": True}),
            {"type": "row", "title": "shut", "collapsed": True, "panels": [nested]},
            panel("math", {"refId": "C", "datasource": {"type": "__expr__", "uid": "__expr__"}}),
            {"type": "text", "title": "notes"},
        ],
    )
    found = [(t.panel, t.ref_id, t.expr, t.instant) for t in gp.targets(board)]
    assert found == [("top", "A", "a", False), ("top", "B", "b", True), ("inner", "A", "up", False)]
    assert gp.PanelTarget("f", "p", "A", "up", False, None).label() == "f / p / A: up"


def test_all_values_and_builtins_replace_every_form(tmp_path):
    values = gp.all_values(write_board(tmp_path, []))
    window = gp.Window(start=1000.0, end=1060.0, scrape_s=1.0)
    expr = 'histogram_quantile($q, rate(x{job=~"$job",a="${job}",b="[[job]]"}[$__rate_interval]))'
    out = gp.interpolate(expr, values | window.builtins())
    assert out == 'histogram_quantile(0.9, rate(x{job=~".*",a=".*",b=".*"}[4s]))'
    both = "increase(y[$__range]) * $k + $__range_s + $__interval_ms"
    assert gp.interpolate(both, values | window.builtins()) == "increase(y[60s]) * 7 + 60 + 1000"


def test_rate_interval_follows_grafana_formula():
    # max($__interval + scrape, 4 x scrape): a day over 1000 points steps 87 s.
    day = gp.Window(start=0.0, end=86400.0, scrape_s=15.0)
    assert day.builtins()["__interval"] == "87s"
    assert day.builtins()["__rate_interval"] == "102s"
    short = gp.Window(start=0.0, end=60.0, scrape_s=15.0)
    assert short.builtins()["__rate_interval"] == "60s"
    assert short.builtins(min_interval="1m")["__interval"] == "60s"


@pytest.mark.parametrize(
    "expr", ['rate(x{tenant=~"$tenant"}[5m])', "x[${nope}]", "x[[undeclared]]", "$"]
)
def test_a_variable_left_over_is_an_error(expr):
    with pytest.raises(ValueError, match="unresolved"):
        gp.interpolate(expr, {"job": ".*"})


def test_label_replace_group_references_pass_through():
    expr = 'label_replace(up, "host", "$1", "instance", "(.*):.*")'
    assert gp.interpolate(expr, {}) == expr


def test_all_without_all_value_is_refused(tmp_path):
    var = {"name": "m", "type": "query", "includeAll": True, "current": {"value": ["$__all"]}}
    with pytest.raises(ValueError, match="'m'"):
        gp.all_values(write_board(tmp_path, [], [var]))


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        ([], False),
        ([{"metric": {}, "values": [[1, "NaN"], [2, "NaN"]]}], False),
        ([{"metric": {}, "values": [[1, "NaN"], [2, "0"]]}], True),
        ([{"metric": {}, "value": [1, "3"]}], True),
        ([{"metric": {}, "value": [1, "NaN"]}], False),
    ],
)
def test_has_values_needs_a_number(series, expected):
    assert gprom.has_values(series) is expected
