"""The Grafana boards checked against Grafana's own dashboard schema by tsc (node, and the
pinned packages of dashboards/grafana/schema installed by `npm ci`): the committed boards
conform, a board made with the SDK conforms, and each kind of fault is reported by board,
panel and JSON path."""

from __future__ import annotations

import copy
import json

import pytest
from grafana_foundation_sdk.builders import dashboard as d
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.builders import timeseries as ts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphDrawStyle
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from dashboards.grafana.export import BOARDS, filename
from dashboards.grafana.provisioning import provisioning_files
from dashboards.grafana.schema_check import HERE, check_boards, check_files

pytestmark = [pytest.mark.integration, pytest.mark.node]

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SDK_AUTO = ("auto", "auto_min", "auto_count")


def sdk_board() -> dict:
    """A board as the SDK builds it: a row, a time series and a stat panel on Prometheus."""
    b = (
        d.Dashboard("X")
        .uid("x")
        .with_variable(d.DatasourceVariable("datasource").type("prometheus"))
        .with_variable(d.QueryVariable("job").datasource(DS).query("label_values(up, job)"))
        .with_row(d.Row("Traffic"))
        .with_panel(
            ts.Panel()
            .title("Rate")
            .unit("reqps")
            .datasource(DS)
            .draw_style(GraphDrawStyle.LINE)
            .line_width(1)
            .with_target(
                prom.Dataquery().expr("rate(x[$__rate_interval])").legend_format("{{job}}")
            )
        )
        .with_panel(
            stat.Panel()
            .title("Up")
            .unit("short")
            .datasource(DS)
            .with_target(prom.Dataquery().expr("up").instant())
        )
    )
    board = json.loads(json.dumps(b.build(), cls=JSONEncoder))
    # The SDK puts an interval variable's fields on every variable (see the auto test).
    for var in board["templating"]["list"]:
        for key in SDK_AUTO:
            var.pop(key, None)
    return board


def panel(board: dict, title: str) -> dict:
    return next(p for p in board["panels"] if p.get("title") == title)


def test_committed_boards_conform_to_grafana_schema():
    paths = [HERE / filename(key) for key in BOARDS]
    assert len(paths) == 7 and all(p.is_file() for p in paths)
    assert [str(e) for e in check_files(paths)] == []


def test_the_provisioning_flavour_conforms():
    boards = {name: json.loads(text) for name, text in provisioning_files().items()}
    assert len(boards) == 7
    assert [str(e) for e in check_boards(boards)] == []


def test_an_sdk_board_conforms_with_its_import_keys():
    board = {"__inputs": [{"name": "DS_PROMETHEUS"}], "__requires": [], **sdk_board()}
    assert panel(board, "Rate")["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "line"
    assert [str(e) for e in check_boards({"sdk.json": board})] == []


def test_each_fault_is_reported_by_board_panel_and_path():
    good = sdk_board()
    faults = {
        "misspelled-key.json": lambda b: panel(b, "Rate").update(descripton="typo"),
        "bad-enum.json": lambda b: panel(b, "Rate")["fieldConfig"]["defaults"]["custom"].update(
            drawStyle="lines"
        ),
        "bad-mapping-type.json": lambda b: panel(b, "Up")["fieldConfig"]["defaults"].update(
            mappings=[{"type": "vaule", "options": {}}]
        ),
        "string-for-number.json": lambda b: panel(b, "Up")["gridPos"].update(w="12"),
        "bad-prom-target.json": lambda b: panel(b, "Rate")["targets"][0].update(
            legendformat="{{job}}"
        ),
    }
    boards = {}
    for name, spoil in faults.items():
        boards[name] = copy.deepcopy(good)
        spoil(boards[name])
    errors = {e.board: e for e in check_boards(boards)}
    assert sorted(errors) == sorted(faults), [str(e) for e in errors.values()]
    found = {name: (e.panel, e.path) for name, e in errors.items()}
    assert found == {
        "misspelled-key.json": ('panel "Rate" (timeseries)', "panels[1].descripton"),
        "bad-enum.json": (
            'panel "Rate" (timeseries)',
            "panels[1].fieldConfig.defaults.custom.drawStyle",
        ),
        "bad-mapping-type.json": (
            'panel "Up" (stat)',
            "panels[2].fieldConfig.defaults.mappings[0].type",
        ),
        "string-for-number.json": ('panel "Up" (stat)', "panels[2].gridPos.w"),
        "bad-prom-target.json": ('panel "Rate" (timeseries)', "panels[1].targets[0].legendformat"),
    }
    assert "'\"lines\"' is not assignable" in errors["bad-enum.json"].message
    assert "'string' is not assignable to type 'number'" in errors["string-for-number.json"].message
    assert str(errors["misspelled-key.json"]).startswith(
        'misspelled-key.json: panel "Rate" (timeseries): '
    )


def test_interval_fields_only_on_an_interval_variable():
    board = sdk_board()
    board["templating"]["list"][1].update(
        auto=False, auto_min="10s", auto_count=30
    )  # a query variable
    interval = {
        "type": "interval",
        "name": "step",
        "query": "1m,5m",
        "auto": True,
        "auto_min": "10s",
        "auto_count": 30,
    }
    board["templating"]["list"].append(interval)
    errors = check_boards({"b.json": board})
    assert [(e.panel, e.path) for e in errors] == [("", "templating.list[1].auto")]


def test_a_legacy_or_unknown_panel_type_is_reported():
    board = sdk_board()
    panel(board, "Rate")["type"] = "graph"
    errors = check_boards({"b.json": board})
    # Typed as nothing known, the literal's other fields may fail the board's Panel type too.
    assert {e.panel for e in errors} == {'panel "Rate" (graph)'}
    assert errors[0].path == "panels[1].type"
    assert 'NoPanelPluginTypesFor<"graph">' in errors[0].message


def test_missing_packages_name_the_install_command(tmp_path):
    with pytest.raises(RuntimeError, match="npm ci --prefix"):
        check_boards({"b.json": sdk_board()}, schema_dir=tmp_path)


def test_a_prometheus_annotation_holds_its_query_in_target():
    source = {"type": "prometheus", "uid": "${datasource}"}
    note = {"name": "Restarts", "datasource": source, "enable": True, "iconColor": "orange"}
    boards = {}
    for name, extra in {
        "target.json": {"target": {"refId": "Anno", "expr": "up == 0"}},
        "top-level-expr.json": {"expr": "up == 0"},
        "target-typo.json": {"target": {"refId": "Anno", "exrp": "up == 0"}},
    }.items():
        boards[name] = {**sdk_board(), "annotations": {"list": [{**note, **extra}]}}
    found = {(e.board, e.path) for e in check_boards(boards)}
    assert found == {
        ("top-level-expr.json", "annotations.list[0].expr"),
        ("target-typo.json", "annotations.list[0].target.exrp"),
    }
