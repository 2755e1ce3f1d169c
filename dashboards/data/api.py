"""What the dashboard's pages ask of the request log, whatever holds it.

Two implementations answer these questions: `dashboards.data.store.StoreData` (the
embedded SQLite store of one agent, from rollup tables the store keeps up to date) and
`dashboards.data.es.EsData` (a fleet's request-log documents in Elasticsearch, from its
aggregations). Pages only ever see this interface, and every answer is already
aggregated: a page never pulls raw rows into pandas (the one exception is a bounded
table of individual requests, `RequestData.requests`).

Every method either answers or raises `DataUnavailable` with a message a person can act
on; a page shows that message instead of a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Protocol

import pandas as pd

# Re-exported: the interface answers in the store's measures and bins.
from agent.store.bins import BINS_PER_OCTAVE, MEASURES, ZERO_BIN, bin_bounds, bin_of  # noqa: F401

# Columns a request can be counted by (`by=` arguments). `stream` is "true"/"false".
DIMENSIONS = ("tenant", "model", "operation", "status", "finish_reason", "error_type", "stream")

# Per-request distributions: latency_s, ttft_s, tpot_s (streams with 2+ tokens only, as
# `RequestRecord.tpot_s`) and cost_amount (requests whose cost is known).
DISTRIBUTIONS = ("latency", "ttft", "tpot", "cost")

# The counts and sums every `totals` / `timeseries` row carries: the store's rollup
# columns (agent.store.bins.MEASURES documents each).

# Columns of `RequestData.requests` (one row per request; never prompt or completion text).
REQUEST_COLUMNS = (
    "request_id",
    "wall_time",
    "tenant",
    "model",
    "operation",
    "status",
    "http_status",
    "error_type",
    "stream",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "ttft_s",
    "tpot_s",
    "cost_amount",
    "cost_currency",
    "safety_hits",
)

# Time buckets and range bounds are whole minutes: the store's finest rollup.
RESOLUTION_S = 60


def _floor_minute(t: float) -> float:
    return math.floor(t / RESOLUTION_S) * RESOLUTION_S


def _ceil_minute(t: float) -> float:
    return math.ceil(t / RESOLUTION_S) * RESOLUTION_S


@dataclass(frozen=True)
class Filters:
    """Which requests a question is about: start <= wall_time < end (epoch seconds, widened
    to whole minutes), and optionally only some models and tenants (empty: all)."""

    start: float
    end: float
    models: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("a time range needs finite bounds")
        if self.end <= self.start:
            raise ValueError("a time range must end after it starts")
        object.__setattr__(self, "start", _floor_minute(self.start))
        object.__setattr__(self, "end", _ceil_minute(self.end))
        object.__setattr__(self, "models", tuple(sorted(set(self.models))))
        object.__setattr__(self, "tenants", tuple(sorted(set(self.tenants))))

    @property
    def span_s(self) -> float:
        """Length of the range in seconds."""
        return self.end - self.start


def step_for(span_s: float, points: int = 120) -> int:
    """A bucket width for a time series over `span_s`: a whole number of minutes (whole
    hours past 2 days), giving about `points` buckets."""
    raw = max(RESOLUTION_S, span_s / points)
    for step in (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400):
        if step >= raw:
            return step
    return 86400 * math.ceil(raw / 86400)


@dataclass(frozen=True)
class SourceInfo:
    """What a page says about where its numbers come from."""

    kind: Literal["store", "elasticsearch"]
    location: str  # the store's path, or the Elasticsearch URL and index pattern
    notes: tuple[str, ...] = field(default=())  # e.g. "older store: no rollups, slower"


class DataUnavailable(Exception):
    """The request log cannot answer now. The message says what is wrong and what to do
    (no store at the path, a store from a newer inferwatch, Elasticsearch unreachable);
    pages show it as it is."""


class RequestData(Protocol):
    """The questions the pages ask of the request log (see the module docstring)."""

    def info(self) -> SourceInfo:
        """Where the data comes from, with notes a page shows (never raises)."""
        ...

    def values(self, dimension: str, f: Filters) -> list[str]:
        """Distinct values of `dimension` (one of `DIMENSIONS`) among the requests of `f`
        (its own model/tenant filter ignored, so a menu offers every choice), sorted."""
        ...

    def totals(self, f: Filters, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` over the whole range: one row, or with `by` one row per value
        (column `key`, str) ordered by cost descending. No requests: no rows."""
        ...

    def timeseries(self, f: Filters, step_s: int, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` per time bucket: column `t` (bucket start, epoch s, a multiple of
        `step_s`, which is a multiple of `RESOLUTION_S`), `key` when `by`. Buckets with no
        request are absent. Ordered by t (then key)."""
        ...

    def quantiles(
        self,
        f: Filters,
        metric: str,
        qs: tuple[float, ...] = (0.5, 0.95, 0.99),
        step_s: int | None = None,
    ) -> pd.DataFrame:
        """Quantiles of a `DISTRIBUTIONS` metric (in seconds, or the cost currency): columns
        `q`, `value` (plus `t` per bucket with `step_s`). Within ~10% of the exact
        quantile of the records. No values: no rows."""
        ...

    def histogram(self, f: Filters, metric: str) -> pd.DataFrame:
        """Distribution of a `DISTRIBUTIONS` metric on the log bins: columns `low`,
        `high`, `count` (non-empty bins only, ordered by low)."""
        ...

    def safety(self, f: Filters, step_s: int | None = None) -> pd.DataFrame:
        """Safety-filter hits: columns `filter`, `direction`, `action`, `tenant`, `hits`
        (sum of the verdicts' counts), plus `t` per bucket with `step_s`."""
        ...

    def requests(
        self,
        f: Filters,
        statuses: tuple[str, ...] = (),
        order: Literal["newest", "cost", "latency"] = "newest",
        limit: int = 200,
    ) -> pd.DataFrame:
        """At most `limit` single requests (`REQUEST_COLUMNS`), newest first, or the most
        expensive or the slowest first; `statuses` keeps only those statuses."""
        ...

    def record(self, request_id: str) -> dict | None:
        """The whole stored record of one request (the JSON the agent wrote, decoded), or
        None. Prompt and completion text are there only when capture was on (and were
        redacted before they were stored)."""
        ...
