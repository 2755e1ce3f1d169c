"""The Grafana boards' panel queries (tests/grafana_panels.py) evaluated through a real
Prometheus' HTTP API: `query_range` over the window with Grafana's step, `query` at the
window's end for an instant target; which empty ones read metrics Prometheus never got;
and the Prometheus configuration and readiness the tests need for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from alerts.rules.promql import metric_names
from tests.grafana_panels import PanelTarget, Window, all_values, interpolate, targets


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


@dataclass(frozen=True)
class Result:
    """A target's result series; for an empty one, the metrics it reads that Prometheus
    holds no series of over the window (none: the series exist, the expression is wrong)."""

    target: PanelTarget
    series: list[dict]
    absent: frozenset[str] = frozenset()

    def empty(self) -> bool:
        """No value that is a number."""
        return not has_values(self.series)

    def why(self) -> str:
        """The target's label and what is missing."""
        if self.absent:
            return f"{self.target.label()}  [no series of {', '.join(sorted(self.absent))}]"
        return f"{self.target.label()}  [its series exist: the expression selects nothing]"


async def evaluate_boards(prom_url: str, window: Window, paths: list[Path]) -> dict[str, list]:
    """{board file: [Result]} for every Prometheus target of each board."""
    out = {}
    async with aiohttp.ClientSession() as session:
        for path in paths:
            values = all_values(path)
            out[path.name] = [
                await _result(session, prom_url, t, window, values) for t in targets(path)
            ]
    return out


async def _result(session, prom_url, target, window, values) -> Result:
    series = await evaluate(session, prom_url, target, window, values)
    if has_values(series):
        return Result(target, series)
    names = metric_names(interpolate(target.expr, values | window.builtins()))
    params = [("match[]", n) for n in sorted(names)]
    params += [("start", str(window.start)), ("end", str(window.end))]
    async with session.get(f"{prom_url}/api/v1/series", params=params) as r:
        found = {s["__name__"] for s in (await r.json())["data"]}
    return Result(target, series, frozenset(names - found))


async def first_scrape(prom_url: str, timeout_s: float = 30.0) -> None:
    """Wait until Prometheus has scraped every target once (its discovery hands targets
    to the scrapers some seconds after start): a window opened earlier starts empty."""
    async with asyncio.timeout(timeout_s), aiohttp.ClientSession() as s:
        while True:
            async with s.get(f"{prom_url}/api/v1/query", params={"query": "up == 1"}) as r:
                if (await r.json())["data"]["result"]:
                    return
            await asyncio.sleep(0.2)


async def scrape_errors(prom_url: str) -> list[str]:
    """What Prometheus says of each scrape target that is not up (empty when all are)."""
    async with aiohttp.ClientSession() as s, s.get(f"{prom_url}/api/v1/targets") as r:
        active = (await r.json())["data"]["activeTargets"]
    return [
        f"{t['scrapeUrl']}: {t['health']} {t['lastError']}" for t in active if t["health"] != "up"
    ]


def empty_panels(results: list[Result], allowed: dict[tuple[str, str, str], str]) -> list[str]:
    """Why each empty target is empty, but those `allowed` ((board, panel, refId) -> the
    reason it may be empty)."""
    keys = [(r, (r.target.board, r.target.panel, r.target.ref_id)) for r in results]
    return [r.why() for r, key in keys if r.empty() and key not in allowed]


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
