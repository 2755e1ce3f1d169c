"""Render the boards to import-ready JSON, write them, and check the committed copies.

The SDK builds the dashboard model; this module adds what Grafana's "export for sharing
externally" adds and the SDK does not: `__inputs` (so the import dialog asks for the
Prometheus datasource and makes it the datasource variable's default), `__requires`, and
unique panel ids (the SDK leaves them 0; Grafana needs them for links to one panel).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.grafana import cost, engine, experiments, gpus, health, safety, serving
from dashboards.grafana.board import DEFAULTS, BoardOptions

HERE = Path(__file__).parent
INPUT = "DS_PROMETHEUS"
GRAFANA_MIN = "11.6.0"  # the SDK release the boards are built with (schemaVersion 41)
BOARDS: dict[str, Callable] = {
    "serving": serving.build,
    "cost": cost.build,
    "gpus": gpus.build,
    "engine": engine.build,
    "safety": safety.build,
    "health": health.build,
    "experiments": experiments.build,
}
PANEL_NAMES = {
    "timeseries": "Time series",
    "stat": "Stat",
    "bargauge": "Bar gauge",
    "heatmap": "Heatmap",
    "state-timeline": "State timeline",
    "table": "Table",
    "row": "Row",
}


def filename(key: str) -> str:
    """The committed file of a board."""
    return f"inferwatch-{key}.json"


def board(key: str, options: BoardOptions = DEFAULTS) -> dict:
    """One board as Grafana's import JSON (a plain dict)."""
    model = json.loads(json.dumps(BOARDS[key](options).build(), cls=JSONEncoder))
    for i, panel in enumerate(model["panels"], start=1):
        panel["id"] = i
    _interval_fields_only(model)
    _annotation_targets(model)
    _datasource_input(model)
    return {"__inputs": _inputs(), "__requires": _requires(model), **model}


def _interval_fields_only(model: dict) -> None:
    """The SDK writes an interval variable's `auto`, `auto_min`, `auto_count` on every
    variable; Grafana's schema has them on interval variables only (schema_check says so)."""
    for var in model["templating"]["list"]:
        if var["type"] != "interval":
            for key in ("auto", "auto_min", "auto_count"):
                var.pop(key, None)


def _annotation_targets(model: dict) -> None:
    """A Prometheus annotation's query belongs in `target`, as a panel's would be (the
    schema's form; Grafana converts a top-level `expr` on load, but the schema check does
    not accept it). The SDK's `AnnotationQuery.target` takes only Grafana's own target."""
    for note in model["annotations"]["list"]:
        if "expr" in note:
            note["target"] = {"refId": "Anno", "expr": note.pop("expr")}


def _datasource_input(model: dict) -> None:
    """The imported datasource becomes the datasource variable's default."""
    for var in model["templating"]["list"]:
        if var["type"] == "datasource":
            ref = "${" + INPUT + "}"
            var["current"] = {"selected": False, "text": ref, "value": ref}


def _inputs() -> list[dict]:
    return [
        {
            "name": INPUT,
            "label": "Prometheus",
            "description": "The Prometheus that scrapes the inferwatch agents",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]


def _requires(model: dict) -> list[dict]:
    kinds = sorted({p["type"] for p in model["panels"] if p["type"] != "row"})
    return [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_MIN},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *({"type": "panel", "id": k, "name": PANEL_NAMES[k], "version": ""} for k in kinds),
    ]


def text(model: dict) -> str:
    """The file text of a board (stable: the diff of a change is the change)."""
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def render_all(options: BoardOptions = DEFAULTS) -> dict[str, str]:
    """Every board: file name -> JSON text."""
    return {filename(key): text(board(key, options)) for key in BOARDS}
