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
from agent.store import pending, retention, schema, writer
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


@pytest.mark.parametrize("ended_before", [None, 1e9])
def test_finding_rows_left_pending_reads_their_partial_index(conn, ended_before):
    sql, params = pending.lost_sql(ended_before)
    _assert_no_table_scan(conn, sql, params)
    assert any("requests_cost_pending" in step for step in _plan(conn, sql, params))


def test_finalise_lost_numbers_rows_in_id_order(conn):
    ids = [r[0] for r in conn.execute("SELECT id FROM requests WHERE cost_status = 'pending'")]
    assert pending.finalise_lost(conn, None, 1000) == 20
    got = conn.execute(
        "SELECT id, ship_seq FROM requests WHERE cost_status = 'lost' ORDER BY ship_seq"
    ).fetchall()
    assert [i for i, _ in got] == sorted(ids) and [s for _, s in got] == list(range(1001, 1021))


@pytest.mark.parametrize("keep", ["", f" AND ship_state != {schema.PENDING}"])
def test_the_age_rule_walks_the_wall_time_index(conn, keep):
    _assert_no_table_scan(conn, retention.age_sql(keep), (1e9, 1000))


def test_the_outbox_cursor_and_the_restart_check_use_indexes(conn):
    _assert_no_table_scan(
        conn,
        "SELECT max(ship_seq) FROM requests WHERE ship_state = 0 AND ship_seq IS NOT NULL",
        (),
    )
    _assert_no_table_scan(conn, writer.HAS_ROW_SQL, ("x",))


def test_the_shipper_status_finds_the_oldest_pending_row_through_its_partial_index(conn):
    plan = _plan(conn, outbox.OLDEST_WAITING_SQL, ())
    assert any("requests_cost_pending" in step for step in plan), plan
    oldest = conn.execute(outbox.OLDEST_WAITING_SQL).fetchone()[0]
    want = "SELECT min(wall_time) FROM requests WHERE cost_status = 'pending'"
    assert oldest == conn.execute(want).fetchone()[0] is not None
