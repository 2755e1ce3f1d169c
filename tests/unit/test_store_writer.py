"""The SQLite store: what the sink writes, how it batches, and how it survives a database
that cannot be written (locked by another process; full, via SQLite's own page limit)."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from agent.metrics import new_registry
from agent.store import schema
from agent.store.config import StoreConfig
from agent.store.reader import StoreReader
from agent.store.rows import from_json
from agent.store.sqlite_sink import SQLiteSink
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record, until

pytestmark = pytest.mark.unit


def _value(registry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def store(tmp_path):
    """(config factory -> (writer, sink, registry)) with everything closed afterwards."""
    made = []

    def make(**kw):
        config = StoreConfig(dir=tmp_path, **kw)
        registry, instruments = new_registry()
        writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=False)
        writer.start()
        made.append(writer)
        return writer, SQLiteSink(writer, sync=config.durability == "sync"), registry

    yield make
    for w in made:
        w.close()


async def test_records_round_trip_through_columns_and_json(store, tmp_path):
    writer, sink, registry = store()
    records = [make_record(i) for i in range(10)]
    result = await sink.export(records)
    await sink.flush()
    assert result.accepted == 10 and result.error is None
    reader = StoreReader(tmp_path / "requests.sqlite3")
    rows = reader.recent(limit=100)
    assert {r["request_id"] for r in rows} == {r.request_id for r in records}
    newest = rows[0]
    assert newest["latency_s"] == pytest.approx(0.25) and newest["ttft_s"] == pytest.approx(0.05)
    assert newest["safety_hits"] == 2 and newest["cost_amount"] == pytest.approx(0.001)
    assert from_json(reader.record_json(records[3].request_id)) == records[3]
    assert _value(registry, "inferwatch_store_records_written_total") == 10


async def test_records_are_committed_without_a_flush_call(store, tmp_path):
    writer, sink, _ = store(flush_interval_s=0.05)
    await sink.export([make_record(1)])
    reader = StoreReader(tmp_path / "requests.sqlite3")
    await until(lambda: reader.count() == 1)


def test_steady_arrivals_are_batched_per_flush_interval(store, tmp_path):
    """Records that come while a batch is written wait their own interval: a steady stream
    is one commit per interval, not a commit straight after each other (the old bug: the
    interval was counted from the first record ever queued)."""
    writer, _, _ = store(flush_interval_s=0.2)
    commits: list[str] = []  # SQL the writer's connection runs, through its trace hook
    writer.submit(lambda c: c.set_trace_callback(commits.append)).result(10)
    end = time.monotonic() + 1.2
    n = 0
    while time.monotonic() < end:  # ~2 records a millisecond, as the agent at c1 and more
        writer.put([make_record(n)])
        n += 1
        time.sleep(0.0005)
    assert writer.flush().result(10) is True
    writer.submit(lambda c: c.set_trace_callback(None)).result(10)
    reader = StoreReader(tmp_path / "requests.sqlite3")
    assert reader.count() == n
    # 1.2 s of arrivals at one batch per 0.2 s: 6 or 7, plus the flush's (and retention's
    # first pass, which commits on its own).
    assert 5 <= commits.count("COMMIT") <= 12, commits.count("COMMIT")


async def test_sync_durability_commits_before_export_returns(store, tmp_path):
    writer, sink, _ = store(durability="sync", flush_interval_s=10)
    await sink.export([make_record(1), make_record(2)])
    other = sqlite3.connect(tmp_path / "requests.sqlite3")
    assert other.execute("SELECT count(*) FROM requests").fetchone()[0] == 2


async def test_locked_database_keeps_records_and_counts_the_error(store, tmp_path):
    writer, sink, registry = store(busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "requests.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    await sink.export([make_record(i) for i in range(5)])
    await until(
        lambda: _value(registry, "inferwatch_store_write_errors_total", error_type="locked")
    )
    assert _value(registry, "inferwatch_store_records_pending") == 5
    other.execute("COMMIT")
    await until(lambda: _value(registry, "inferwatch_store_records_written_total") == 5)
    assert _value(registry, "inferwatch_store_records_pending") == 0


async def test_full_database_holds_records_up_to_the_bound_then_counts_drops(store, tmp_path):
    # Stand-in for a full disk: SQLite's max_page_count makes writes fail with SQLITE_FULL.
    writer, sink, registry = store(max_pending_records=100)
    pages = writer.submit(lambda c: c.execute("PRAGMA page_count").fetchone()[0]).result()
    writer.submit(lambda c: c.execute(f"PRAGMA max_page_count={pages}")).result()
    result = await sink.export([make_record(i, prompt_text="x" * 2000) for i in range(150)])
    assert result.accepted == 100 and result.error == "memory_bound"
    assert _value(registry, "inferwatch_store_records_dropped_total", reason="memory_bound") == 50
    await until(
        lambda: _value(registry, "inferwatch_store_write_errors_total", error_type="disk_full")
    )
    writer.submit(lambda c: c.execute("PRAGMA max_page_count=1073741823")).result()
    await until(lambda: _value(registry, "inferwatch_store_records_written_total") == 100)


async def test_held_records_are_bounded_by_bytes_too(store, tmp_path):
    # Stand-in for a full disk, as above; records with captured text hit the byte bound
    # long before the count bound.
    mb = 1024 * 1024
    writer, sink, registry = store(max_pending_records=100_000, max_pending_bytes=mb)
    pages = writer.submit(lambda c: c.execute("PRAGMA page_count").fetchone()[0]).result()
    writer.submit(lambda c: c.execute(f"PRAGMA max_page_count={pages}")).result()
    big = [make_record(i, prompt_text="x" * (mb // 4 - 2000)) for i in range(6)]
    result = await sink.export(big)
    assert result.accepted == 4 and result.error == "memory_bound"
    assert _value(registry, "inferwatch_store_records_dropped_total", reason="memory_bound") == 2
    writer.submit(lambda c: c.execute("PRAGMA max_page_count=1073741823")).result()
    await until(lambda: _value(registry, "inferwatch_store_records_written_total") == 4)
    assert (await sink.export(big[4:])).accepted == 2  # the bytes were given back


def test_newer_schema_is_refused(tmp_path):
    conn = schema.connect(str(tmp_path / "db"))
    schema.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
    assert schema.migrate(conn) == schema.VERSION  # idempotent
    conn.execute(f"PRAGMA user_version={schema.VERSION + 1}")
    with pytest.raises(schema.SchemaError):
        schema.migrate(conn)


async def test_a_caller_giving_up_does_not_stop_the_writer(store):
    writer, sink, registry = store()
    given_up = writer.submit(lambda c: c.execute("SELECT 1").fetchone())
    given_up.cancel()  # what asyncio does when the awaiting task is cancelled
    assert writer.submit(lambda c: 42).result(timeout=20) == 42
    await sink.export([make_record(1)])
    assert await asyncio.wrap_future(writer.flush())


async def test_sync_mode_reports_and_does_not_stall_while_the_database_is_locked(store, tmp_path):
    writer, sink, registry = store(durability="sync", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "requests.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    first = await sink.export([make_record(1)])
    second = await sink.export([make_record(2)])  # no wait for a write known to fail
    assert first.error == "write_failed" and second.error == "write_failed"
    assert first.accepted == 1 and second.accepted == 1  # held in memory, not lost
    other.execute("COMMIT")
    await until(lambda: _value(registry, "inferwatch_store_records_written_total") == 2)
