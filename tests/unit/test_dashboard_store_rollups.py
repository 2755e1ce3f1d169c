"""The store's rollups (schema v4) equal its rows: after the writer's batches, after the
migration back-fills a v3 store an older agent wrote, and after retention deletes rows
mid-hour. Differential: rollup answers == raw answers == the frame oracle."""

from __future__ import annotations

import sqlite3
import time

import pytest

from agent.store import retention, rollups_sql, schema
from agent.store.config import RetentionConfig
from dashboards.data import api
from dashboards.data.store import StoreData
from tests.dashboard_seed import frame_of, seed_records, write_store
from tests.store_records import PRE_V6_INSERT, pre_v6_row
from tests.unit import dashboard_store_oracle as oracle
from tests.unit.test_dashboard_store import RANGES, as_dict, assert_measures

pytestmark = pytest.mark.unit

START = (time.time() // 3600 - 30) * 3600 + 1234.5  # recent: kept by retention
END = START + 86400


def answers(d: StoreData, f: api.Filters) -> dict:
    """Every aggregated answer of `d` for `f`, as plain values."""
    out = {
        "values": [d.values(dim, f) for dim in api.DIMENSIONS],
        "safety": d.safety(f).values.tolist(),
        "safety_t": d.safety(f, 3600).values.tolist(),
    }
    for m in api.DISTRIBUTIONS:
        out[f"hist_{m}"] = d.histogram(f, m).values.tolist()
        out[f"q_{m}"] = d.quantiles(f, m).values.tolist()
        out[f"q_{m}_t"] = d.quantiles(f, m, step_s=1800).values.tolist()
    return out


def assert_same(rolled: StoreData, raw: StoreData, frame, f: api.Filters) -> None:
    """rollups == raw rows (exactly where no float sum is involved) == the oracle."""
    assert answers(rolled, f) == answers(raw, f)
    rows = oracle.select(frame, f)
    for by in (None, "model", "finish_reason", "stream"):
        for d in (rolled, raw):
            assert_measures(
                as_dict(d.totals(f, by), False, bool(by)), oracle.grouped(rows, None, by)
            )
        for step in (300, 3600, 7200):
            want = oracle.grouped(rows, step, by)
            for d in (rolled, raw):
                assert_measures(as_dict(d.timeseries(f, step, by), True, bool(by)), want)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    records = seed_records(2000, START, END, seed=3)
    return write_store(tmp_path_factory.mktemp("store"), records), records


@pytest.mark.parametrize("f", RANGES)
def test_rollups_answer_as_the_raw_rows_and_the_records(seeded, f):
    path, records = seeded
    rolled, raw = StoreData(path), StoreData(path, rollups=False)
    assert rolled.info().notes == () and raw.info().notes == ()
    assert_same(rolled, raw, frame_of(records), f)


def v3_store(path, records) -> None:
    """A store as an agent of schema v3 left it (no rollups)."""
    conn = schema.connect(str(path))
    for step in schema.MIGRATIONS[:3]:
        if callable(step):
            conn.execute("BEGIN")
            step(conn)
            conn.execute("COMMIT")
        else:
            conn.executescript(step)
    conn.execute("PRAGMA user_version=3")
    conn.executemany(PRE_V6_INSERT, [pre_v6_row(r, ship_seq=i) for i, r in enumerate(records)])
    conn.close()


def test_a_v3_store_is_read_raw_then_back_filled_by_the_migration(tmp_path, monkeypatch):
    records = seed_records(1500, START, END, seed=5)
    v3_store(tmp_path / "requests.sqlite3", records)
    old = StoreData(tmp_path / "requests.sqlite3")
    assert old.info().notes == (
        "store from an older inferwatch (schema v3): no rollups; pages are slower until "
        "the agent of this version opens it once",
    )
    f = RANGES[2]
    rows = oracle.select(frame_of(records), f)
    assert_measures(
        as_dict(old.totals(f, "tenant"), False, True), oracle.grouped(rows, None, "tenant")
    )
    monkeypatch.setattr(rollups_sql, "BACKFILL_CHUNK", 400)  # several chunks
    write_store(tmp_path, [])  # the agent of this version opens it: migrates to v4
    conn = sqlite3.connect(tmp_path / "requests.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION >= 4
    new = StoreData(tmp_path / "requests.sqlite3")
    assert new.info().notes == ()
    for f in RANGES:
        assert_same(
            new, StoreData(tmp_path / "requests.sqlite3", rollups=False), frame_of(records), f
        )


def test_retention_subtracts_the_rows_it_deletes_from_the_rollups(tmp_path):
    records = seed_records(1500, START, END, seed=9)
    path = write_store(tmp_path, records)
    cut = START + 5 * 3600 + 1234  # mid-hour, mid-minute
    conn = schema.connect(str(path))
    config = RetentionConfig(max_age_days=1.0)
    deleted = retention.apply(conn, config, keep_unshipped=False, now=cut + 86400)
    conn.close()
    kept = [r for r in records if r.wall_time >= cut]
    assert deleted.by_age == len(records) - len(kept) > 0
    for f in RANGES:
        assert_same(StoreData(path), StoreData(path, rollups=False), frame_of(kept), f)
    hour = 3600 * (int(START) // 3600)
    empty = api.Filters(hour, hour + 3600)  # all its rows deleted: no bucket left behind
    assert StoreData(path).timeseries(empty, 60).empty


def test_retention_by_size_keeps_the_rollups_equal_to_the_rows(tmp_path):
    records = seed_records(1500, START, END, seed=11)
    path = write_store(tmp_path, records)
    conn = schema.connect(str(path))
    used = retention.used_bytes(conn) / 1024 / 1024
    retention.apply(conn, RetentionConfig(max_size_mb=used * 0.6), keep_unshipped=False)
    left = {row[0] for row in conn.execute("SELECT request_id FROM requests")}
    conn.close()
    kept = [r for r in records if r.request_id in left]
    assert 0 < len(kept) < len(records)
    assert_same(StoreData(path), StoreData(path, rollups=False), frame_of(kept), RANGES[0])
