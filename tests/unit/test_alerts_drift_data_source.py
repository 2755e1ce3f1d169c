"""The store source: a real store written by the agent's own writer, read back as the
record frame, field by field; the time range, the row cap, and a missing or locked store."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

from agent.metrics import new_registry
from agent.record import STATUS_ERROR, SafetyVerdict
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from alerts.source import COLUMNS, SourceUnavailable, StoreSource
from tests.store_records import make_record

pytestmark = pytest.mark.unit
T0 = 1_700_000_000.0


def write_store(tmp_path, records) -> StoreSource:
    """Write `records` through the agent's StoreWriter; a source over the file."""
    config = StoreConfig(dir=tmp_path)
    _, instruments = new_registry()
    writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=False)
    writer.start()
    try:
        writer.put(records, wait=True)[1].result(30)
    finally:
        writer.close()
    return StoreSource(config.path)


def varied(i: int):
    """Records unlike each other in every field the frame carries."""
    safety = (
        (
            SafetyVerdict("pii.email", "input", "redact", 2),
            SafetyVerdict("injection", "input", "flag"),
        )
        if i % 3 == 0
        else ()
    )
    return make_record(
        i,
        wall_time=T0 + i,
        stream=i % 2 == 1,
        completion_tokens=1 + i,
        finish_reason="length" if i % 4 == 0 else "stop",
        status=STATUS_ERROR if i == 5 else "ok",
        http_status=502 if i == 5 else 200,
        error_type="upstream_error" if i == 5 else None,
        cost_amount=None if i == 7 else 0.001 * i,
        safety=safety,
        text_stats={"prompt_chars": 10.0 + i, "completion_words": float(i)},
    )


def test_frame_matches_every_record_written_by_the_agent(tmp_path):
    records = [varied(i) for i in range(12)]
    frame = write_store(tmp_path, records).frame(T0, T0 + 100)
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(frame) == 12
    for r, row in zip(records, frame.to_dict("records"), strict=True):
        assert row["wall_time"] == r.wall_time and row["tenant"] == r.tenant
        assert (row["model"], row["operation"], row["status"]) == (r.model, r.operation, r.status)
        assert row["http_status"] == r.http_status and row["error_type"] == r.error_type
        assert row["stream"] == r.stream and row["finish_reason"] == r.finish_reason
        assert row["prompt_tokens"] == r.prompt_tokens
        assert row["completion_tokens"] == r.completion_tokens
        assert row["latency_s"] == pytest.approx(r.duration_s)
        assert row["ttft_s"] == pytest.approx(r.ttft_s)
        assert _same(row["tpot_s"], r.tpot_s) and _same(row["cost_amount"], r.cost_amount)
        assert row["safety_hits"] == sum(v.count for v in r.safety)
        assert row["safety_filters"] == ",".join(sorted({v.filter for v in r.safety}))
        assert row["prompt_chars"] == r.text_stats["prompt_chars"]
        assert row["completion_words"] == r.text_stats["completion_words"]


def _same(got: float, want: float | None) -> bool:
    return math.isnan(got) if want is None else got == pytest.approx(want)


def test_tpot_is_for_streams_only_and_filters_read_as_the_contract_says(tmp_path):
    frame = write_store(tmp_path, [varied(i) for i in range(4)]).frame(T0, T0 + 100)
    assert frame["tpot_s"].isna().tolist() == [True, False, True, False]
    assert frame.loc[1, "tpot_s"] == pytest.approx(0.2 / 1)  # (250-50) ms over 1 token gap
    assert frame["safety_filters"].tolist() == [
        "injection,pii.email",
        "",
        "",
        "injection,pii.email",
    ]
    assert frame["safety_hits"].tolist() == [3, 0, 0, 3]


def test_the_time_range_is_start_inclusive_end_exclusive(tmp_path):
    source = write_store(tmp_path, [varied(i) for i in range(10)])
    assert source.frame(T0 + 2, T0 + 5)["wall_time"].tolist() == [T0 + 2, T0 + 3, T0 + 4]
    empty = source.frame(T0 + 50, T0 + 60)
    assert len(empty) == 0 and list(empty.columns) == list(COLUMNS)


def test_max_rows_samples_uniformly_across_the_range(tmp_path):
    records = [make_record(i, wall_time=T0 + i) for i in range(2000)]
    source = write_store(tmp_path, records)
    source.max_rows = 200
    frame = source.frame(T0, T0 + 2000)
    assert len(frame) == 200 and frame["wall_time"].is_unique
    halves = (frame["wall_time"] < T0 + 1000).sum()
    assert 70 < halves < 130  # uniform: about half in each half (a head-cut gives 200)
    assert frame["wall_time"].tolist() == source.frame(T0, T0 + 2000)["wall_time"].tolist()


def test_a_missing_store_is_source_unavailable_naming_the_path(tmp_path):
    with pytest.raises(SourceUnavailable, match="no store at .*nothing-here"):
        StoreSource(tmp_path / "nothing-here" / "requests.sqlite3").frame(T0, T0 + 1)


def test_a_locked_store_is_source_unavailable_with_the_cause(tmp_path):
    path = tmp_path / "requests.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE requests (id INTEGER PRIMARY KEY, wall_time REAL, record TEXT)")
    holder.execute("BEGIN EXCLUSIVE")  # rollback journal: an exclusive lock keeps readers out
    try:
        with pytest.raises(SourceUnavailable, match="database is locked"):
            StoreSource(path, busy_timeout_ms=0).frame(T0, T0 + 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_file_that_is_no_store_is_source_unavailable(tmp_path):
    path = tmp_path / "requests.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SourceUnavailable, match="cannot read the store"):
        StoreSource(path).frame(T0, T0 + 1)


def test_a_large_range_is_sampled_in_sql_evenly_without_listing_every_id(tmp_path, monkeypatch):
    import alerts.source as source_module

    records = [make_record(i, wall_time=T0 + i) for i in range(20_000)]
    source = write_store(tmp_path, records)
    source.max_rows = 1000
    # Listing every id of the range (5 s for 10M rows) must not happen: make it fail.
    monkeypatch.setattr(source_module, "_IDS_SQL", "SELECT no_such_column FROM requests")
    frame = source.frame(T0, T0 + 20_000)
    assert len(frame) == 1000 and frame["wall_time"].is_unique
    deciles = np.histogram(frame["wall_time"] - T0, bins=10, range=(0, 20_000))[0]
    assert deciles.min() > 60 and deciles.max() < 140  # about 100 in each tenth
    assert frame["wall_time"].tolist() == source.frame(T0, T0 + 20_000)["wall_time"].tolist()
