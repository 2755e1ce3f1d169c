"""Retention (age, size, the outbox kept) and the dashboard's SQL aggregations."""

from __future__ import annotations

import time

import pytest

from agent.store import retention, schema
from agent.store.config import RetentionConfig
from agent.store.reader import StoreReader
from agent.store.rows import to_data
from tests.store_records import make_record

pytestmark = pytest.mark.unit


@pytest.fixture
def db(tmp_path):
    conn = schema.connect(str(tmp_path / "r.db"))
    schema.migrate(conn)
    yield conn, tmp_path / "r.db"
    conn.close()


def _insert(conn, records, ship_state=schema.PENDING):
    rows = [(*to_data(r), ship_state, schema.COST_FINAL, None, None, None, None) for r in records]
    conn.execute("BEGIN")
    conn.executemany(schema.INSERT_SQL, rows)
    conn.execute("COMMIT")


def test_age_retention_deletes_old_rows_but_keeps_the_outbox(db):
    conn, _ = db
    now = time.time()
    old = [make_record(i, wall_time=now - 10 * 86400) for i in range(4)]
    _insert(conn, old[:2], schema.SHIPPED)
    _insert(conn, old[2:], schema.PENDING)
    _insert(conn, [make_record(9, wall_time=now)])
    deleted = retention.apply(conn, RetentionConfig(max_age_days=7), keep_unshipped=True, now=now)
    assert deleted.by_age == 2
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 3
    deleted = retention.apply(conn, RetentionConfig(max_age_days=7), keep_unshipped=False, now=now)
    assert deleted.by_age == 2


def test_size_retention_deletes_the_oldest_rows_until_under_the_bound(db):
    conn, _ = db
    _insert(conn, [make_record(i, prompt_text="p" * 4000) for i in range(300)])
    limit_mb = retention.used_bytes(conn) / 2 / 1024 / 1024
    deleted = retention.apply(conn, RetentionConfig(max_size_mb=limit_mb), keep_unshipped=False)
    assert deleted.by_size > 0
    assert retention.used_bytes(conn) <= limit_mb * 1024 * 1024
    first = conn.execute("SELECT min(id) FROM requests").fetchone()[0]
    assert first == deleted.by_size + 1  # the oldest went first


def test_aggregations_by_tenant_and_time_bucket_are_done_in_sql(db):
    conn, path = db
    base = 1_700_000_000.0
    recs = [make_record(i, wall_time=base + i * 30, tenant=f"t{i % 2}") for i in range(8)]
    recs.append(make_record(8, wall_time=base + 1, tenant="t0", status="error", error_type="500"))
    _insert(conn, recs)
    reader = StoreReader(path)
    by_tenant = {r["key"]: r for r in reader.totals_by("tenant", base, base + 3600)}
    assert by_tenant["t0"]["requests"] == 5 and by_tenant["t0"]["errors"] == 1
    assert by_tenant["t1"]["cost"] == pytest.approx(0.004)
    buckets = reader.timeseries(60, base - 60, base + 3600)
    assert sum(b["requests"] for b in buckets) == 9
    assert all(b["bucket"] % 60 == 0 for b in buckets)
    with pytest.raises(ValueError):
        reader.totals_by("request_id; DROP TABLE requests", 0, 1)
    reader.close()
