"""Metric series from a Prometheus that scrapes the agents (its HTTP API `query_range`).

Gauges are queried by name (Prometheus gives the last sample at or before each step);
counters as `rate(name[window])`, the window the step but at least `min_window_s`, so a
short step still holds the two scrapes a rate needs (as Grafana's `$__rate_interval`).
Labels come back as Prometheus has them (`job` and `instance` included: a fleet's agents
stay apart).
"""

from __future__ import annotations

import re

import requests

from dashboards.data.api import DataUnavailable
from dashboards.data.series import counters, frame, grid

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class PrometheusSeries:
    """`SeriesData` from the Prometheus at `url` (e.g. http://prometheus:9090)."""

    def __init__(self, url: str, timeout_s: float = 10.0, min_window_s: int = 60) -> None:
        self.url = url.rstrip("/")
        self._timeout_s = timeout_s
        self._min_window_s = min_window_s

    def info(self) -> str:
        """Where the series come from."""
        return f"Prometheus at {self.url}"

    def series(self, names, start: float, end: float, step_s: int):
        """See `SeriesData.series`."""
        first, last = grid(start, end, step_s)
        rows = []
        for name in names:
            for item in self._query_range(self._query(name, step_s), first, last, step_s):
                labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
                rows += [(int(float(t)), name, labels, float(v)) for t, v in item["values"]]
        return frame(rows)

    def _query(self, name: str, step_s: int) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a metric name: {name!r}")
        if name in counters():
            return f"rate({name}[{max(step_s, self._min_window_s)}s])"
        return name

    def _query_range(self, query: str, first: int, last: int, step_s: int) -> list[dict]:
        params: dict[str, str | int] = {"query": query, "start": first, "end": last, "step": step_s}
        try:
            resp = requests.get(
                f"{self.url}/api/v1/query_range", params=params, timeout=self._timeout_s
            )
        except requests.Timeout as err:
            raise DataUnavailable(
                f"Prometheus at {self.url} did not answer within {self._timeout_s:g} s"
            ) from err
        except requests.RequestException as err:
            raise DataUnavailable(
                f"Prometheus at {self.url} cannot be reached ({type(err).__name__}): check "
                "the URL and that Prometheus is running"
            ) from err
        return self._result(resp, query)

    def _result(self, resp: requests.Response, query: str) -> list[dict]:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            why = body.get("error") if isinstance(body, dict) else resp.text[:200]
            raise DataUnavailable(
                f"Prometheus at {self.url} did not answer the query {query!r} "
                f"(HTTP {resp.status_code}): {why or 'not a Prometheus API answer'}"
            )
        data = body.get("data") or {}
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise DataUnavailable(f"Prometheus at {self.url} gave no range answer for {query!r}")
        return data["result"]
