"""Aggregation answers (`es_query` bodies) read into the frames of `api.RequestData`."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from agent.store.bins import INT_MEASURES
from dashboards.data.api import MEASURES, DataUnavailable
from dashboards.data.es_query import KEYS, MISSING

_INTS = INT_MEASURES


def key_of(bucket: dict) -> str:
    """A terms bucket's key as text (booleans "true"/"false", as Elasticsearch's
    `key_as_string`; the emulator gives a JSON boolean)."""
    if "key_as_string" in bucket:
        return str(bucket["key_as_string"])
    key = bucket["key"]
    return str(key).lower() if isinstance(key, bool) else str(key)


def keyed(aggs: dict) -> Iterator[tuple[str, dict]]:
    """(key, bucket) of a `by_terms` answer; documents without the field under ""."""
    for bucket in aggs[KEYS]["buckets"]:
        yield key_of(bucket), bucket
    if aggs[MISSING]["doc_count"]:
        yield "", aggs[MISSING]
    # Elasticsearch counts here what did not fit in the terms' `size`: never show a cut
    # answer as a whole one.
    if aggs[KEYS].get("sum_other_doc_count"):
        raise DataUnavailable("too many distinct values to show them all: narrow the filters")


def timed(aggs: dict) -> Iterator[tuple[int, dict]]:
    """(bucket start in epoch seconds, bucket) of a `time_buckets` answer."""
    for bucket in aggs["t"]["buckets"]:
        yield int(bucket["key"]) // 1000, bucket


def measure_row(bucket: dict) -> dict:
    """`api.MEASURES` of one bucket of `es_query.measures()`."""
    ok = sum(b["doc_count"] for b in bucket["statuses"]["buckets"] if b["key"] == "ok")
    row = {"requests": bucket["doc_count"], "errors": bucket["doc_count"] - ok}
    for name in MEASURES[2:]:
        row[name] = bucket[name]["value"] or 0
    for name in _INTS:
        row[name] = int(round(row[name]))
    return row


def frame(rows: list[dict], first: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a frame with columns `first` then `MEASURES` (empty: those columns)."""
    return pd.DataFrame(rows, columns=[*first, *MEASURES])
