"""`StoreData` on stores that cannot answer (a clear `DataUnavailable`), on an empty
store, on a store a live writer is writing, and that it never writes the file."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from contextlib import closing

import pytest

from agent.metrics import new_registry
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from dashboards.data import api
from dashboards.data.store import StoreData
from dashboards.data.store_open import open_store
from tests.dashboard_seed import seed_records, write_store

pytestmark = pytest.mark.unit

START = (time.time() // 3600 - 10) * 3600 + 777.0
END = START + 6 * 3600
F = api.Filters(START, END)


def test_no_file_names_the_path_and_creates_nothing(tmp_path):
    path = tmp_path / "requests.sqlite3"
    with pytest.raises(api.DataUnavailable) as err:
        StoreData(path)
    assert str(path) in str(err.value)
    assert "is --data-dir right? the agent creates it on first start" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_store_from_a_newer_inferwatch_is_refused(tmp_path):
    path = tmp_path / "requests.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE requests (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA user_version=99")
    conn.commit()
    conn.close()
    with pytest.raises(api.DataUnavailable, match=r"newer inferwatch \(schema v99; this"):
        StoreData(path)


@pytest.mark.parametrize("content", [b"hello, not a database\n" * 100, b""])
def test_a_file_that_is_not_a_store_is_refused(tmp_path, content):
    path = tmp_path / "requests.sqlite3"
    path.write_bytes(content)
    with pytest.raises(api.DataUnavailable, match="not an inferwatch store"):
        StoreData(path)
    assert path.read_bytes() == content


def test_another_sqlite_database_is_not_a_store(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(api.DataUnavailable, match="SQLite file but not an inferwatch store"):
        StoreData(path)


def _lock(path, hold: threading.Event, locked: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    locked.set()
    hold.wait(10)
    conn.execute("COMMIT")
    conn.close()


def test_a_store_locked_past_the_busy_timeout_says_so(tmp_path):
    path = write_store(tmp_path, seed_records(50, START, END))
    hold, locked = threading.Event(), threading.Event()
    t = threading.Thread(target=_lock, args=(path, hold, locked))
    t.start()
    locked.wait(10)
    try:
        with pytest.raises(api.DataUnavailable, match="locked by another process"):
            StoreData(path, busy_timeout_ms=200)
    finally:
        hold.set()
        t.join()
    assert StoreData(path).totals(F).requests.tolist() == [50]


def test_a_lock_released_within_the_busy_timeout_is_waited_for(tmp_path):
    path = write_store(tmp_path, seed_records(50, START, END))
    hold, locked = threading.Event(), threading.Event()
    t = threading.Thread(target=_lock, args=(path, hold, locked))
    t.start()
    locked.wait(10)
    threading.Timer(0.3, hold.set).start()
    try:
        data = StoreData(path, busy_timeout_ms=20_000)
        assert data.totals(F).requests.tolist() == [50]
    finally:
        hold.set()
        t.join()


@pytest.mark.parametrize("rollups", [True, False])
def test_an_empty_store_answers_with_empty_frames(tmp_path, rollups):
    data = StoreData(write_store(tmp_path, []), rollups=rollups)
    assert data.totals(F).empty and list(data.totals(F).columns) == list(api.MEASURES)
    assert data.totals(F, "model").empty and data.timeseries(F, 60, "tenant").empty
    assert list(data.timeseries(F, 60).columns) == ["t", *api.MEASURES]
    assert data.quantiles(F, "latency").empty and data.quantiles(F, "ttft", step_s=60).empty
    assert data.histogram(F, "cost").empty and data.safety(F, 60).empty
    assert data.requests(F).empty and list(data.requests(F).columns) == list(api.REQUEST_COLUMNS)
    assert data.values("tenant", F) == [] and data.record("x") is None


def _every_method(data: StoreData) -> None:
    for dim in api.DIMENSIONS:
        data.values(dim, F)
        data.totals(F, dim)
    data.totals(F)
    data.timeseries(F, 60)
    data.timeseries(F, 3600, "model")
    for m in api.DISTRIBUTIONS:
        data.quantiles(F, m)
        data.quantiles(F, m, step_s=600)
        data.histogram(F, m)
    data.safety(F)
    data.safety(F, 60)
    for order in ("newest", "cost", "latency"):
        data.requests(F, order=order)
    data.record(data.requests(F).request_id[0])
    data.info()


def test_reading_never_changes_the_file(tmp_path):
    path = write_store(tmp_path, seed_records(500, START, END))
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    for rollups in (True, False):
        data = StoreData(path, rollups=rollups)
        _every_method(data)
        data.close()
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    conn, _ = open_store(path)  # the connection StoreData reads through
    with closing(conn), pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("CREATE TABLE x (y)")


def test_a_store_being_written_answers_whole_batches(tmp_path):
    """A live writer commits batches of different sizes (rows and rollups in one
    transaction): every answer read meanwhile is a whole number of batches."""
    records = seed_records(2400, START, END, seed=4)
    sizes = [10 + i for i in range(60)]  # 2,370 records; prefix sums identify batches
    prefix, n = {0}, 0
    for size in sizes:
        n += size
        prefix.add(n)
    path = write_store(tmp_path, records[:1])  # the file exists before the reader opens
    data = StoreData(path)
    done = threading.Event()
    seen: list[int] = []

    def write() -> None:
        config = StoreConfig(dir=tmp_path)
        writer = StoreWriter(config, StoreStats(new_registry()[1]), keep_unshipped=False)
        writer.start()
        at = 1
        for size in sizes:
            writer.put(records[at : at + size])
            writer.flush().result(timeout=60)
            at += size
        writer.close()
        done.set()

    t = threading.Thread(target=write)
    t.start()
    while not done.is_set():
        got = data.totals(F)
        raw = StoreData(path, rollups=False).totals(F)
        for frame in (got, raw):
            seen.append(int(frame.requests.sum()) - 1 if len(frame) else 0)
    t.join()
    assert len(seen) > 2 and all(s in prefix for s in seen), seen
    assert data.totals(F).requests.tolist() == [1 + sum(sizes)]
