"""Every Prometheus query of the committed Grafana boards, interpolated the way Grafana
does with "All" selected, and evaluated through a real Prometheus' HTTP API.

`targets(path)` walks a board's panels (rows' nested `panels` too) and yields one
`PanelTarget` per Prometheus target; `Window` holds the time range and the intervals
Grafana would derive from it; `evaluate` runs one target (`query_range`, or `query` for
an instant target) and returns Prometheus' result series.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

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


async def evaluate(
    session: aiohttp.ClientSession,
    prom_url: str,
    target: PanelTarget,
    window: Window,
    variables: dict[str, str],
) -> list[dict]:
    """Run the target as Grafana would (range, or instant at the window's end); returns
    Prometheus' result (a scalar result becomes one series); raises on an API error."""
    values = variables | window.builtins(target.min_interval)
    params = {"query": interpolate(target.expr, values)}
    if target.instant:
        path, params["time"] = "query", str(window.end)
    else:
        path = "query_range"
        step = window.interval_s(target.min_interval)
        params |= {"start": str(window.start), "end": str(window.end), "step": str(step)}
    async with session.post(f"{prom_url}/api/v1/{path}", data=params) as r:
        body = await r.json()
    if body.get("status") != "success":
        raise ValueError(f"{target.label()}: Prometheus said {body.get('error')!r}")
    data = body["data"]
    return [{"value": data["result"]}] if data["resultType"] == "scalar" else data["result"]


def has_values(series: list[dict]) -> bool:
    """True when some series holds a value that is a number (NaN draws nothing)."""
    points = [p for s in series for p in s.get("values", []) + [s.get("value")] if p]
    return any(p[1] != "NaN" for p in points)


async def evaluate_boards(
    prom_url: str, window: Window, paths: list[Path]
) -> dict[str, list[tuple[PanelTarget, list[dict]]]]:
    """{board file: [(target, result series)]} for every Prometheus target of each board."""
    out = {}
    async with aiohttp.ClientSession() as session:
        for path in paths:
            values = all_values(path)
            out[path.name] = [
                (t, await evaluate(session, prom_url, t, window, values)) for t in targets(path)
            ]
    return out


def empty_panels(
    results: list[tuple[PanelTarget, list[dict]]], allowed: dict[tuple[str, str, str], str]
) -> list[str]:
    """Labels of the targets with no value, but those `allowed` ((board, panel, refId)
    -> the reason it may be empty)."""
    return [
        t.label()
        for t, series in results
        if not has_values(series) and (t.board, t.panel, t.ref_id) not in allowed
    ]


def prometheus_config(agent_url: str, scrape_s: float, rule_files: list[Path] = ()) -> dict:
    """prometheus.yml (as a dict) of one job `inferwatch` scraping the agent at `agent_url`
    every `scrape_s`, evaluating `rule_files` as often."""
    every = f"{scrape_s:g}s"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": "inferwatch",
                "static_configs": [{"targets": [agent_url.removeprefix("http://")]}],
            }
        ],
    }
