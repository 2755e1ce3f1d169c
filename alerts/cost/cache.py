"""The aggregate of past intervals, kept between evaluations so each one reads only the
recent records.

The first evaluation reads the whole range (weeks, for the seasonal baseline) in chunks
of `read_chunk_s`, so no single read holds more than a chunk of records. Later ones keep
the intervals older than `settle_s` and read again only from there: records are written
late, and a record's cost is known only once its interval is metered.
"""

from __future__ import annotations

import math
from typing import Protocol

import pandas as pd

from alerts.cost.series import aggregate, empty_aggregate


class RecordSource(Protocol):
    """Anything that returns the records with start <= wall_time < end."""

    def frame(self, start: float, end: float) -> pd.DataFrame: ...


class AggregateCache:
    """Aggregates of complete intervals in [first, end), extended from a record source."""

    def __init__(
        self, source: RecordSource, interval_s: float, settle_s: float, chunk_s: float
    ) -> None:
        self._source, self._iv, self._settle, self._chunk = source, interval_s, settle_s, chunk_s
        self._agg = empty_aggregate()
        self._first: int | None = None  # first interval held
        self._final = 0  # intervals before this one are not read again
        self.reads: list[tuple[float, float]] = []  # ranges asked for, last update only

    def update(self, first: int, now: float) -> pd.DataFrame:
        """The aggregate of the complete intervals [first, the one holding `now`)."""
        end = math.floor(now / self._iv)
        if self._first is None or first < self._first:
            self._agg, self._final = empty_aggregate(), first  # nothing usable held
        self._first = first
        start = max(first, min(self._final, end))
        kept = self._agg[(self._agg["interval"] >= first) & (self._agg["interval"] < start)]
        fresh = self._read(start * self._iv, end * self._iv)
        self._agg = pd.concat([kept, fresh], ignore_index=True) if len(fresh) else kept
        self._final = max(start, math.floor((now - self._settle) / self._iv))
        return self._agg

    def _read(self, start: float, end: float) -> pd.DataFrame:
        self.reads = []
        parts = []
        while start < end:
            stop = min(end, start + self._chunk)
            self.reads.append((start, stop))
            parts.append(aggregate(self._source.frame(start, stop), self._iv))
            start = stop
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty_aggregate()
        # a chunk edge inside an interval splits it in two rows: sum them back
        keys = ["interval", "tenant", "model"]
        return pd.concat(parts).groupby(keys, as_index=False, sort=True).sum()
