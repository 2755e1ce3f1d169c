"""`StoreData`: the dashboard's `RequestData` over one agent's embedded SQLite store.

Read-only: the database is opened with `mode=ro` (never created, never written; WAL lets
it be read while the agent writes). Every answer is aggregated in SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import orjson
import pandas as pd

from agent.store.bins import INT_MEASURES
from dashboards.data import api, store_bins, store_rollup, store_sql
from dashboards.data.store_open import open_store

ROLLUPS_SINCE = 4  # the schema version that added the rollup tables


class StoreData:
    """`api.RequestData` over the store at `path` (the agent's `store.db`).

    Raises `api.DataUnavailable` at construction when the store cannot be read (no file,
    not a store, a newer schema), and from any method when it stops being readable."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 2000, rollups: bool = True) -> None:
        """`rollups` False answers from the raw rows even where the store keeps rollups (the
        reference the rollups are tested against)."""
        self._path = Path(path)
        self._conn, self._version = open_store(self._path, busy_timeout_ms)
        self._conn.create_function("bin_of", 1, api.bin_of, deterministic=True)
        self._lock = threading.Lock()  # one connection, shared by Streamlit's threads
        # v4 keeps rollups; an older store is answered from its raw rows (slower).
        self._sql = store_rollup if rollups and self._version >= ROLLUPS_SINCE else store_sql
        self._notes: tuple[str, ...] = ()
        if self._version < ROLLUPS_SINCE:
            self._notes = (
                f"store from an older inferwatch (schema v{self._version}): no rollups; "
                "pages are slower until the agent of this version opens it once",
            )

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _rows(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                raise api.DataUnavailable(
                    f"the store at {self._path} stayed busy (locked by another process) "
                    "past its busy timeout; try again in a moment"
                ) from err
            raise api.DataUnavailable(f"the store at {self._path} cannot be read: {err}") from err
        except sqlite3.DatabaseError as err:
            raise api.DataUnavailable(f"the store at {self._path} cannot be read: {err}") from err

    # ---- RequestData ------------------------------------------------------------------

    def info(self) -> api.SourceInfo:
        """The store's path, and notes (an older store without rollups)."""
        return api.SourceInfo("store", str(self._path), self._notes)

    def values(self, dimension: str, f: api.Filters) -> list[str]:
        """Distinct values of `dimension` in the range (missing values left out), sorted."""
        rows = self._rows(*self._sql.values(dimension, f))
        return sorted(v for (v,) in rows if v not in (None, ""))

    def totals(self, f: api.Filters, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` over the range (per `key` with `by`, by cost descending)."""
        sql, params = self._sql.totals(f, by, None)
        frame = self._measures(sql, params, by, False)
        if by:
            frame = frame.sort_values(["cost", "key"], ascending=[False, True])
        return frame.reset_index(drop=True)

    def timeseries(self, f: api.Filters, step_s: int, by: str | None = None) -> pd.DataFrame:
        """`MEASURES` per bucket `t` of `step_s` (and `key`), ordered by t then key."""
        _check_step(step_s)
        sql, params = self._sql.totals(f, by, step_s)
        frame = self._measures(sql, params, by, True)
        return frame.sort_values(["t", "key"] if by else ["t"]).reset_index(drop=True)

    def _measures(self, sql: str, params: list, by: str | None, per_t: bool) -> pd.DataFrame:
        columns = [*(["t"] if per_t else []), *(["key"] if by else []), *api.MEASURES]
        frame = pd.DataFrame(self._rows(sql, params), columns=columns)
        frame = frame[frame["requests"] > 0]
        return measures_typed(frame)

    def quantiles(
        self,
        f: api.Filters,
        metric: str,
        qs: tuple[float, ...] = (0.5, 0.95, 0.99),
        step_s: int | None = None,
    ) -> pd.DataFrame:
        """Quantiles of `metric` from its log bins (within a bin's ~9% of the exact one)."""
        if step_s is not None:
            _check_step(step_s)
        rows = self._rows(*self._sql.bins(f, metric, step_s))
        return store_bins.quantiles_frame(rows, qs, step_s is not None)

    def histogram(self, f: api.Filters, metric: str) -> pd.DataFrame:
        """Counts of `metric` per log bin (`low`, `high`, `count`)."""
        return store_bins.histogram_frame(self._rows(*self._sql.bins(f, metric, None)))

    def safety(self, f: api.Filters, step_s: int | None = None) -> pd.DataFrame:
        """Hits per filter, direction, action, tenant (and `t` with `step_s`)."""
        if step_s is not None:
            _check_step(step_s)
        keys = ["filter", "direction", "action", "tenant"]
        columns = [*(["t"] if step_s else []), *keys, "hits"]
        frame = pd.DataFrame(self._rows(*self._sql.safety(f, step_s)), columns=columns)
        frame["hits"] = frame["hits"].astype("int64")
        order = ["t", *keys] if step_s else keys
        return frame.sort_values(order).reset_index(drop=True)

    def requests(
        self,
        f: api.Filters,
        statuses: tuple[str, ...] = (),
        order: str = "newest",
        limit: int = 200,
    ) -> pd.DataFrame:
        """At most `limit` single requests (`REQUEST_COLUMNS`), in `order`."""
        walk = order != "newest" and self._walk(f, limit)
        rows = self._rows(*store_sql.requests(f, statuses, order, limit, walk))
        frame = pd.DataFrame(rows, columns=list(api.REQUEST_COLUMNS))
        frame["stream"] = frame["stream"].astype(bool)
        return frame

    def _walk(self, f: api.Filters, limit: int) -> bool:
        """Whether walking the order's index from the top (about `limit` x all / in range
        rows read) beats sorting the range's rows (in range), counted on the rollups."""
        if self._sql is not store_rollup:
            return False  # counting would read the rows: leave it to SQLite's planner
        in_range = int(self.totals(f).requests.sum())
        everything = self._rows("SELECT total(requests) FROM rollup_hour")[0][0]
        return in_range * in_range > limit * everything

    def record(self, request_id: str) -> dict | None:
        """The stored record of one request (its JSON, decoded), or None."""
        sql = "SELECT record FROM requests WHERE request_id = ? ORDER BY id DESC LIMIT 1"
        rows = self._rows(sql, (request_id,))
        return orjson.loads(rows[0][0]) if rows else None


def measures_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as int64, sums as float64 (SQLite's `total` gives floats)."""
    frame = frame.copy()
    for name in api.MEASURES:
        frame[name] = frame[name].astype("int64" if name in INT_MEASURES else "float64")
    if "t" in frame:
        frame["t"] = frame["t"].astype("int64")
    return frame


def _check_step(step_s: int) -> None:
    if step_s <= 0 or step_s % api.RESOLUTION_S:
        raise ValueError(f"step_s must be a positive multiple of {api.RESOLUTION_S}")
