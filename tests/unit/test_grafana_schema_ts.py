"""A board written as TypeScript for the schema check (dashboards/grafana/schema_ts.py): the
import-only keys dropped, each panel typed by its plugin, each line traced to its JSON path."""

from __future__ import annotations

import pytest

from dashboards.grafana.schema_ts import Where, render

pytestmark = pytest.mark.unit

PROM = {"type": "prometheus", "uid": "${datasource}"}
BOARD = {
    "__inputs": [{"name": "DS_PROMETHEUS"}],
    "__requires": [{"id": "grafana"}],
    "title": "X",
    "schemaVersion": 41,
    "panels": [
        {
            "type": "row",
            "title": "Old",
            "collapsed": True,
            "panels": [{"type": "stat", "title": "In row"}],
        },
        {
            "type": "timeseries",
            "title": "Rate",
            "datasource": PROM,
            "targets": [{"expr": "up", "refId": "A"}],
        },
    ],
}


def line_of(ts, text: str) -> int:
    return next(i for i, line in enumerate(ts.source.splitlines()) if text in line)


def test_import_keys_are_dropped_and_the_board_is_a_typed_literal():
    ts = render(BOARD, "/types/board-types", "x.json")
    assert "__inputs" not in ts.source and "__requires" not in ts.source
    assert 'from "/types/board-types";' in ts.source
    assert "export const board: Board = {" in ts.source
    assert ts.source.rstrip().endswith("};")


def test_each_panel_satisfies_its_plugin_type():
    lines = render(BOARD, "t").source.splitlines()
    closers = [line.strip() for line in lines if "satisfies" in line]
    assert closers == [
        '} satisfies PanelOf<"stat">,',  # inside the collapsed row
        "} satisfies Row,",
        '} satisfies PromPanelOf<"timeseries">,',
    ]


def test_each_line_is_traced_to_its_path_and_panel():
    ts = render(BOARD, "t")
    assert len(ts.where) == len(ts.source.splitlines())
    assert ts.where[line_of(ts, '"expr": "up"')] == Where(
        "panels[1].targets[0].expr", 'panel "Rate" (timeseries)'
    )
    assert ts.where[line_of(ts, '"title": "In row"')] == Where(
        "panels[0].panels[0].title", 'panel "In row" (stat)'
    )
    assert ts.where[line_of(ts, '"schemaVersion": 41')] == Where("schemaVersion", "")


def test_strings_are_written_as_json_literals():
    board = {"title": 'say "hi" ${x} `y`', "panels": []}
    assert '"title": "say \\"hi\\" ${x} `y`",' in render(board, "t").source


def test_a_board_that_is_no_object_is_refused():
    with pytest.raises(ValueError, match="x.json: a dashboard is a JSON object, not list"):
        render([], "t", "x.json")
