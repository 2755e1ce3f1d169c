"""Every Prometheus query of the committed Grafana boards, interpolated the way Grafana
does with "All" selected (tests/grafana_prometheus.py evaluates them).

`targets(path)` walks a board's panels (rows' nested `panels` too) and yields one
`PanelTarget` per Prometheus target; `all_values(path)` gives each template variable's
value with "All" selected; `Window` holds the time range and the intervals Grafana
derives from it; `interpolate` substitutes them all and refuses any `$` left over.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BOARDS_DIR = Path(__file__).parents[1] / "dashboards" / "grafana"
# Grafana's own variable syntax (public/app/features/variables/utils.ts, variableRegex):
# $name, [[name]] or [[name:format]], ${name}, ${name.field} or ${name:format}.
VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
# Regex group references in label_replace ("$1", "${1}"): Grafana leaves names it does
# not know as they are, and these reach Prometheus.
GROUP_REF = re.compile(r"\$(\d+)|\$\{(\d+)\}")
NOT_PROMETHEUS = {"__expr__", "-- Grafana --", "grafana", "-- Dashboard --", "datasource"}


@dataclass(frozen=True)
class PanelTarget:
    """One query of one panel: where it is, and its expression as the board has it."""

    board: str
    panel: str
    ref_id: str
    expr: str
    instant: bool
    min_interval: str | None

    def label(self) -> str:
        """`board / panel title / refId: expr`, as failure messages list it."""
        return f"{self.board} / {self.panel} / {self.ref_id}: {self.expr}"


def board_paths(names: list[str], directory: Path = BOARDS_DIR) -> list[Path]:
    """The committed JSON files `inferwatch-<name>.json` of the named boards."""
    return [directory / f"inferwatch-{name}.json" for name in names]


def targets(path: Path) -> Iterator[PanelTarget]:
    """Every Prometheus target of the board at `path` (rows' nested panels included)."""
    board = json.loads(path.read_text())
    for panel in _panels(board.get("panels", [])):
        for t in panel.get("targets", []):
            if _is_prometheus(t.get("datasource") or panel.get("datasource")) and t.get("expr"):
                yield PanelTarget(
                    path.name,
                    panel.get("title", ""),
                    t.get("refId", ""),
                    t["expr"],
                    bool(t.get("instant")) and not t.get("range"),
                    t.get("interval") or panel.get("interval") or None,
                )


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def _is_prometheus(ds: dict | str | None) -> bool:
    if isinstance(ds, dict):
        return ds.get("type", "prometheus") == "prometheus" and ds.get("uid") not in NOT_PROMETHEUS
    return ds not in NOT_PROMETHEUS  # a bare name or variable (older boards), or inherited


def all_values(path: Path) -> dict[str, str]:
    """What each template variable of the board becomes with "All" selected: its allValue
    (`.*` by the boards' convention), else (custom, constant, textbox, interval) its
    current value. A multi-value variable with "All" and no allValue is an error: Grafana
    would join every option it found, which needs the options queried first."""
    board = json.loads(path.read_text())
    out = {}
    for var in board.get("templating", {}).get("list", []):
        out[var["name"]] = _all_value(var)
    return out


def _all_value(var: dict) -> str:
    if var.get("type") == "datasource":
        return "${datasource}"  # only in datasource fields, never in an expression
    if var.get("includeAll") and var.get("allValue"):
        return var["allValue"]
    current = (var.get("current") or {}).get("value", var.get("query", ""))
    if current in ("$__all", ["$__all"]) or isinstance(current, list) and len(current) != 1:
        raise ValueError(f"variable {var['name']!r}: 'All' without allValue or several values")
    return current[0] if isinstance(current, list) else str(current)


@dataclass(frozen=True)
class Window:
    """The dashboard's time range and the datasource's scrape interval (its "Scrape
    interval" setting, which Grafana also takes as the minimum step), in seconds."""

    start: float
    end: float
    scrape_s: float
    max_points: int = 1000  # Grafana's maxDataPoints: about the panel's width in pixels

    def interval_s(self, min_interval: str | None = None) -> float:
        """$__interval, also the query step: range / max points, at least the minimum
        interval (the panel's or target's, else the scrape interval); whole seconds (a
        simplification of Grafana's rounding to "nice" intervals)."""
        floor = _seconds(min_interval) if min_interval else self.scrape_s
        return float(math.ceil(max((self.end - self.start) / self.max_points, floor)))

    def builtins(self, min_interval: str | None = None) -> dict[str, str]:
        """Grafana's global variables for this window; $__rate_interval as the Prometheus
        datasource computes it: max($__interval + scrape interval, 4 x scrape interval)."""
        interval = self.interval_s(min_interval)
        rate = max(interval + self.scrape_s, 4 * self.scrape_s)
        range_s = round(self.end - self.start)
        return {
            "__interval": _duration(interval),
            "__interval_ms": str(int(interval * 1000)),
            "__rate_interval": _duration(rate),
            "__rate_interval_ms": str(int(rate * 1000)),
            "__range": f"{range_s}s",
            "__range_s": str(range_s),
            "__range_ms": str(round((self.end - self.start) * 1000)),
            "__from": str(int(self.start * 1000)),
            "__to": str(int(self.end * 1000)),
        }


def _seconds(text: str) -> float:
    m = re.fullmatch(r">?(\d+(?:\.\d+)?)(ms|s|m|h|d)", text.strip())
    if not m:
        raise ValueError(f"interval {text!r} is not a Grafana duration such as 15s or 1m")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    return float(m[1]) * scale


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def interpolate(expr: str, values: dict[str, str]) -> str:
    """`expr` with every variable replaced; raises ValueError naming any `$` left over
    (a variable the board does not declare, or a typo), as Grafana would send it as is."""

    def one(m: re.Match) -> str:
        name = m[1] or m[2] or m[4]
        return values.get(name, m[0])

    out = VARIABLE.sub(one, expr)
    rest = GROUP_REF.sub("", out)
    left = [m[0] for m in VARIABLE.finditer(rest)]
    if left or "$" in rest:
        raise ValueError(f"unresolved {left or ['$']} in {out!r}")
    return out
