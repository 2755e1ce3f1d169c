"""The store's periodic and per-record queries use an index, never a scan of the whole table.

A scan is cheap in a fresh database and costs seconds of CPU in a week of request logs, on
every pass; it showed up only as a growing stall (the stale-pending pass: 6, 10, 21 ms at
10, 20, 30 s of load) (bench/NOTES.md). SQLite plans without statistics here, as in
the agent (which never runs ANALYZE).
"""

from __future__ import annotations

import sqlite3

import pytest

from agent.shipping import outbox
from agent.store import held, inserts, retention, schema
from agent.store.rows import to_row
from tests.store_records import make_record

pytestmark = pytest.mark.unit


@pytest.fixture
def conn(tmp_path):
    c = schema.connect(str(tmp_path / "db.sqlite3"))
    schema.migrate(c)
    rows = [to_row(make_record(i), schema.COST_FINAL, i) for i in range(200)]
    rows += [to_row(make_record(200 + i), schema.COST_PENDING) for i in range(20)]
    c.executemany(schema.INSERT_SQL, rows)
    yield c
    c.close()


def _plan(conn: sqlite3.Connection, sql: str, params: tuple) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _assert_no_table_scan(conn, sql, params) -> None:
    plan = _plan(conn, sql, params)
    scans = [step for step in plan if step.startswith("SCAN requests") and "INDEX" not in step]
    assert not scans, plan


@pytest.mark.parametrize("keep", ["", f" AND ship_state != {schema.PENDING}"])
def test_the_age_rule_walks_the_wall_time_index(conn, keep):
    _assert_no_table_scan(conn, retention.age_sql(keep), (1e9, 1000))


def test_the_outbox_cursor_and_the_restart_check_use_indexes(conn):
    _assert_no_table_scan(conn, inserts.LAST_SEQ_SQL, ())
    _assert_no_table_scan(conn, held.WITHOUT_ROW_SQL, ())


def test_the_shipper_status_counts_held_records_without_scanning_the_log(conn):
    plan = _plan(conn, outbox.OLDEST_WAITING_SQL, ())
    assert not any("requests" in step for step in plan), plan  # the small held table only
    held.add(conn, [make_record(1, wall_time=50.0), make_record(2, wall_time=70.0)])
    oldest = conn.execute(outbox.OLDEST_WAITING_SQL).fetchone()[0]
    assert oldest is not None and oldest >= 50.0
