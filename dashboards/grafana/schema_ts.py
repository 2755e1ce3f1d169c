"""Write a Grafana board as a TypeScript object literal that tsc checks against Grafana's
own types (dashboards/grafana/schema/board-types.ts), remembering which JSON path and
panel each line holds so that tsc's errors can be told in the board's terms.

A literal, not an imported .json: tsc widens imported JSON ("line" becomes string) and
does no excess-property check on it, so it would miss misspelled keys and bad enum values.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Grafana's "export for sharing externally" adds these to the top level; the dashboard
# schema does not model them (Grafana's import dialog consumes them), so they are dropped.
IMPORT_ONLY_KEYS = ("__inputs", "__requires")
_PANEL_PATH = re.compile(r"panels\[\d+\](\.panels\[\d+\])?")
_ANNOTATION_PATH = re.compile(r"annotations\.list\[\d+\]")


@dataclass(frozen=True)
class Where:
    """What one line of the TypeScript holds: a JSON path, and the panel it lies in."""

    path: str
    panel: str


@dataclass(frozen=True)
class TsBoard:
    """A board as TypeScript source, with a `Where` for each of its lines (0-based)."""

    source: str
    where: tuple[Where, ...]


def render(board: dict[str, Any], types_module: str, name: str = "board") -> TsBoard:
    """The TypeScript of `board` (a dashboard JSON model); `types_module` is the import
    path of board-types.ts."""
    if not isinstance(board, dict):
        raise ValueError(f"{name}: a dashboard is a JSON object, not {type(board).__name__}")
    model = {k: v for k, v in board.items() if k not in IMPORT_ONLY_KEYS}
    w = _Writer()
    top = Where("", "")
    w.line(f"// {name}, written by dashboards/grafana/schema_check.py", top)
    w.line(
        f"import type {{ Board, PanelOf, PromAnnotation, PromPanelOf, Row }} from {json.dumps(types_module)};",
        top,
    )
    w.value(model, "export const board: Board = ", ";", "", "", 0)
    return TsBoard("\n".join(w.lines) + "\n", tuple(w.where))


def panel_type(panel: dict[str, Any]) -> str:
    """The type a panel literal must satisfy: by its plugin, and Prometheus targets where its
    datasource is Prometheus."""
    kind = str(panel.get("type", ""))
    if kind == "row":
        return "Row"
    return f"{'PromPanelOf' if _on_prometheus(panel) else 'PanelOf'}<{json.dumps(kind)}>"


def _on_prometheus(item: dict[str, Any]) -> bool:
    source = item.get("datasource")
    return isinstance(source, dict) and source.get("type") == "prometheus"


def panel_label(panel: dict[str, Any]) -> str:
    """How a message names a panel: its title and type."""
    title = panel.get("title") or f"#{panel.get('id', '?')}"
    return f"panel {json.dumps(title, ensure_ascii=False)} ({panel.get('type', '?')})"


class _Writer:
    """Pretty-prints JSON as TypeScript, one value or bracket a line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.where: list[Where] = []

    def line(self, text: str, where: Where) -> None:
        self.lines.append(text)
        self.where.append(where)

    def value(self, v: Any, head: str, tail: str, path: str, panel: str, depth: int) -> None:
        if isinstance(v, dict) and _PANEL_PATH.fullmatch(path):
            panel, tail = panel_label(v), f" satisfies {panel_type(v)}{tail}"
        elif _ANNOTATION_PATH.fullmatch(path) and _on_prometheus(v):
            tail = f" satisfies PromAnnotation{tail}"
        where, pad = Where(path, panel), "  " * depth
        if isinstance(v, dict) and v:
            self.line(f"{pad}{head}{{", where)
            for key, item in v.items():
                sub = f"{path}.{key}" if path else key
                self.value(item, f"{json.dumps(key)}: ", ",", sub, panel, depth + 1)
            self.line(f"{pad}}}{tail}", where)
        elif isinstance(v, list) and v:
            self.line(f"{pad}{head}[", where)
            for i, item in enumerate(v):
                self.value(item, "", ",", f"{path}[{i}]", panel, depth + 1)
            self.line(f"{pad}]{tail}", where)
        else:
            self.line(f"{pad}{head}{json.dumps(v, ensure_ascii=False)}{tail}", where)
