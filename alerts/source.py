"""Record sources: the request log as a pandas "record frame", one row per request.

A source is any object with `frame(start, end) -> DataFrame` (records with
start <= wall_time < end). `StoreSource` reads the embedded store (SQLite, read-only);
`alerts.source_es.ElasticsearchSource` reads a fleet's request-log documents. Both cap
the rows of one frame at `max_rows`, drawn uniformly at random from the range (seeded,
so the same range gives the same sample), so memory stays bounded whatever the traffic.

Columns (`COLUMNS`, always present, in that order): wall_time, tenant, model, operation,
status, http_status, error_type, stream, prompt_tokens, completion_tokens, latency_s,
ttft_s, tpot_s, cost_amount, cost_currency, finish_reason, safety_hits, safety_filters;
then `prompt_<descriptor>` / `completion_<descriptor>` text descriptors where known, and
prompt_text / completion_text (redacted) when asked for with `texts=True`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from agent.store.rows import StoredRecord
from alerts.drift import descriptors

COLUMNS = (
    "wall_time",
    "tenant",
    "model",
    "operation",
    "status",
    "http_status",
    "error_type",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "ttft_s",
    "tpot_s",
    "cost_amount",
    "cost_currency",
    "finish_reason",
    "safety_hits",
    "safety_filters",
)
TEXT_COLUMNS = ("prompt_text", "completion_text")
_FLOATS = ("prompt_tokens", "completion_tokens", "latency_s", "ttft_s", "tpot_s", "cost_amount")
_OPTIONAL_TEXT = ("error_type", "cost_currency", "finish_reason", *TEXT_COLUMNS)
DEFAULT_MAX_ROWS = 200_000
_CHUNK = 500  # ids per `IN (...)` query: under SQLite's bound on host parameters


class SourceUnavailable(Exception):
    """The request log cannot be read now (a missing or locked store, an unreachable or
    refusing Elasticsearch); the message names the source and the cause."""


def sample_ids(ids: np.ndarray, max_rows: int, seed: int = 0) -> np.ndarray:
    """At most `max_rows` of `ids`, uniformly without replacement, in ascending order."""
    if len(ids) <= max_rows:
        return ids
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(ids, size=max_rows, replace=False))


def descriptor_columns(text_stats: Mapping | None, prompt: str | None, completion: str | None):
    """Text descriptor columns of one record: those the agent stored at the edge
    (`text_stats`), else computed from the captured (redacted) texts."""
    if text_stats:
        return {k: float(v) for k, v in text_stats.items()}
    return descriptors.text_stats(prompt, completion) or {}


def row_of(r: StoredRecord, texts: bool) -> dict:
    """One frame row from a stored record (the JSON `RequestRecord` was written as)."""
    hits = [v for v in r.safety if getattr(v, "count", 1) > 0]
    row = {
        "wall_time": r.wall_time,
        "tenant": r.tenant,
        "model": r.model,
        "operation": r.operation,
        "status": r.status,
        "http_status": r.http_status,
        "error_type": r.error_type,
        "stream": bool(r.stream),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "latency_s": r.duration_s,
        "ttft_s": r.ttft_s,
        "tpot_s": r.tpot_s,
        "cost_amount": r.cost_amount,
        "cost_currency": r.cost_currency,
        "finish_reason": r.finish_reason,
        "safety_hits": sum(int(getattr(v, "count", 1)) for v in hits),
        "safety_filters": ",".join(sorted({v.filter for v in hits})),
    }
    prompt, completion = r.prompt_text, r.completion_text
    row.update(descriptor_columns(getattr(r, "text_stats", None), prompt, completion))
    if texts:
        row.update(prompt_text=prompt, completion_text=completion)
    return row


def to_frame(rows: Iterable[dict], texts: bool = False) -> pd.DataFrame:
    """The record frame of `rows`, with every contract column (empty when no rows)."""
    frame = pd.DataFrame.from_records(list(rows))
    for name in (*COLUMNS, *(TEXT_COLUMNS if texts else ())):
        if name not in frame.columns:
            frame[name] = pd.Series(dtype=object)
    for name in _FLOATS:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    frame["wall_time"] = frame["wall_time"].astype(float)
    frame["http_status"] = frame["http_status"].fillna(0).astype(int)
    frame["safety_hits"] = frame["safety_hits"].fillna(0).astype(int)
    frame["stream"] = frame["stream"].fillna(False).astype(bool)
    frame["safety_filters"] = frame["safety_filters"].fillna("").astype(str)
    for name in _OPTIONAL_TEXT:
        if name in frame.columns:  # None, not pandas' NaN, where a record has no value
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    extra = sorted(c for c in frame.columns if c not in COLUMNS and c not in TEXT_COLUMNS)
    keep = [*COLUMNS, *extra, *(TEXT_COLUMNS if texts else ())]
    return frame[keep].reset_index(drop=True)


class StoreSource:
    """The embedded store's request log, read-only (WAL lets it read while the agent
    writes). The time range is an indexed SQL query; every frame opens its own
    connection, so a source can be shared by threads and never holds the file open."""

    def __init__(
        self,
        path: str | Path,
        max_rows: int = DEFAULT_MAX_ROWS,
        texts: bool = False,
        busy_timeout_ms: int = 2000,
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.texts = texts
        self._busy_ms = busy_timeout_ms
        self.skipped = 0  # rows whose stored JSON could not be read, since creation

    def frame(self, start: float, end: float) -> pd.DataFrame:
        """Records with start <= wall_time < end (at most `max_rows`, sampled uniformly)."""
        try:
            with self._connect() as conn:
                return to_frame(self._rows(conn, start, end), self.texts)
        except sqlite3.Error as err:
            raise SourceUnavailable(f"cannot read the store {self.path}: {err}") from err

    def _connect(self) -> _Closing:
        if not self.path.is_file():
            raise SourceUnavailable(f"no store at {self.path} (is --data-dir right?)")
        uri = f"file:{self.path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
        return _Closing(conn)

    def _rows(self, conn: sqlite3.Connection, start: float, end: float):
        seed = int(start) & 0xFFFFFFFF
        picked = sample_ids(
            self._ids(conn, _finite(start), _finite(end), seed), self.max_rows, seed
        )
        for at in range(0, len(picked), _CHUNK):
            chunk = [int(i) for i in picked[at : at + _CHUNK]]
            sql = _RECORDS_SQL.format(marks=",".join("?" * len(chunk)))
            for (text,) in conn.execute(sql, chunk):
                try:
                    record = StoredRecord(text)
                except orjson.JSONDecodeError:
                    self.skipped += 1  # a row older tools broke: the rest still counts
                    continue
                yield row_of(record, self.texts)

    def _ids(self, conn: sqlite3.Connection, start: float, end: float, seed: int) -> np.ndarray:
        """The ids of the range, or of a seeded Bernoulli sample of it (a hash of the id
        below a threshold, in SQL) a little larger than `max_rows` when the range holds
        more: listing 10M ids into Python took 5 s, the sample 0.5 s. `sample_ids` then
        trims it to `max_rows` exactly."""
        n = conn.execute(_COUNT_SQL, (start, end)).fetchone()[0]
        if n > self.max_rows:
            share = min(1.0, _OVERSAMPLE * self.max_rows / n)
            args = (start, end, seed, int(share * _HASH_RANGE))
            ids = np.fromiter((i for (i,) in conn.execute(_HASHED_IDS_SQL, args)), np.int64)
            if len(ids) >= self.max_rows:
                return ids
        return np.fromiter((i for (i,) in conn.execute(_IDS_SQL, (start, end))), np.int64)


# The wall_time index covers the row id: these queries never read a record's JSON.
_IDS_SQL = "SELECT id FROM requests WHERE wall_time >= ? AND wall_time < ? ORDER BY id"
_COUNT_SQL = "SELECT count(*) FROM requests WHERE wall_time >= ? AND wall_time < ?"
# Knuth's multiplicative hash of the row id, mod 2**32: consecutive ids spread evenly, so
# the rows below a threshold are a uniform share of the range.
_HASH_RANGE = 2**32
_HASHED_IDS_SQL = (
    "SELECT id FROM requests WHERE wall_time >= ? AND wall_time < ? "
    "AND (id * 2654435761 + ?) % 4294967296 < ? ORDER BY id"
)
_OVERSAMPLE = 1.2  # the sample's size is binomial: enough that it rarely falls short
_RECORDS_SQL = "SELECT record FROM requests WHERE id IN ({marks}) ORDER BY id"  # noqa: S608


def _finite(t: float) -> float:
    # SQLite compares REAL with +-inf fine, but NaN would match nothing silently.
    if math.isnan(t):
        raise ValueError("time range bound is NaN")
    return t


class _Closing:
    """`with` for a sqlite3 connection that closes it (sqlite3's own only commits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
