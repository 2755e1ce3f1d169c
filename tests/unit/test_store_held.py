"""Write early, complete later: a record is kept in the `held` table the moment its request
ends, its costed version is one final row (and leaves the table, in the same transaction),
and records whose cost never came become cost-lost rows (at the next start, and after a
timeout). Rows an older agent left pending are finalised as lost by the migration."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from agent.record import SafetyVerdict
from agent.store import schema
from agent.store.rows import to_data
from tests.store_records import PRE_V6_INSERT, make_record, pre_v6_row, store_factory

pytestmark = pytest.mark.unit

_COLS = "request_id, cost_status, cost_amount, safety_hits, ship_seq"


@pytest.fixture
def store(tmp_path):
    """(**config) -> (writer, registry, query(sql)): early writes on, as with cost on."""
    sql = f"SELECT {_COLS} FROM requests ORDER BY id"  # noqa: S608
    yield from store_factory(tmp_path, True, sql, early=True)


def _uncosted(i: int, **kw):
    """A record as the proxy finishes it: no cost yet."""
    fields = dict(cost_currency=None, cost_amount=None, cost_device_seconds=None, cost_joules=None)
    return make_record(i, **(fields | kw))


def _costed(record, **kw):
    return dataclasses.replace(record, cost_currency="USD", cost_amount=0.25, **kw)


def _held(query) -> set[str]:
    return {r[0] for r in query("SELECT request_id FROM held")}


def _lost(registry, reason: str) -> float | None:
    return registry.get_sample_value("inferwatch_store_cost_lost_total", {"reason": reason})


def test_the_early_write_is_held_and_the_costed_version_is_one_final_row(store):
    writer, registry, query = store()
    raw = _uncosted(1)
    writer.put_early(raw)
    assert writer.flush().result(timeout=20)
    assert query() == []  # not a row while the cost engine holds it: held
    (ended,) = query(f"SELECT ended_at FROM held WHERE request_id = '{raw.request_id}'")  # noqa: S608
    assert ended[0] == pytest.approx(raw.wall_time + raw.duration_s)
    # The costed version also carries what changed meanwhile (a verdict merged off-path).
    more = (*raw.safety, SafetyVerdict("secret.aws_key", "output", "block", 1))
    writer.put([_costed(raw, safety=more)])
    assert writer.flush().result(timeout=20)
    assert query() == [(raw.request_id, "final", 0.25, 3, 1)]
    assert _held(query) == set()
    assert registry.get_sample_value("inferwatch_store_records_written_total") == 1


def test_early_and_final_in_one_batch_is_the_row_only(store):
    writer, _, query = store(flush_interval_s=10)
    first, second = _uncosted(1), _uncosted(2)
    writer.put_early(first)  # `second` never had its early write (memory bound)
    writer.put([_costed(first), _costed(second)])
    assert writer.flush().result(timeout=20)
    got = query()
    assert [r[:4] for r in got] == [
        (first.request_id, "final", 0.25, 2),
        (second.request_id, "final", 0.25, 2),
    ]
    assert got[0][4] < got[1][4]  # both offered to the shipper, in order
    assert _held(query) == set()


def test_records_held_by_a_killed_agent_become_lost_rows_at_the_next_start(store):
    writer, registry, query = store()
    orphan, done = _uncosted(1), _uncosted(2)
    writer.put_early(orphan)
    writer.put_early(done)
    assert writer.flush().result(timeout=20)
    writer.put([_costed(done)])
    assert writer.flush().result(timeout=20)
    assert _held(query) == {orphan.request_id}
    writer.close()  # the costed `orphan` never comes: the agent "died" holding it
    assert _lost(registry, "restart") == 0  # nothing lost while it ran
    _, registry, query = store()
    assert query() == [
        (done.request_id, "final", 0.25, 2, 1),
        (orphan.request_id, "lost", None, 2, 2),
    ]
    assert _lost(registry, "restart") == 1
    assert _held(query) == set()  # the next start finds nothing


def test_held_records_past_the_timeout_become_lost_rows(store):
    writer, registry, query = store(pending_timeout_s=0.2)
    stale, fresh = _uncosted(1, wall_time=time.time() - 60), _uncosted(2)
    writer.put_early(stale)
    writer.put_early(fresh)
    for _ in range(2000):  # a wait for the writer's periodic pass, not a timed assertion
        if _lost(registry, "timeout"):
            break
        time.sleep(0.01)
    assert query() == [(stale.request_id, "lost", None, 2, 1)]  # `fresh` may still get its cost
    writer.put([_costed(fresh)])
    assert writer.flush().result(timeout=20)
    assert [r[:2] for r in query()] == [(stale.request_id, "lost"), (fresh.request_id, "final")]
    assert _held(query) == set()


def test_held_records_wait_in_memory_while_the_database_is_full(store):
    # Stand-in for a full disk: SQLite's max_page_count makes writes fail with SQLITE_FULL.
    writer, registry, query = store()
    pages = writer.submit(lambda c: c.execute("PRAGMA page_count").fetchone()[0]).result()
    writer.submit(lambda c: c.execute(f"PRAGMA max_page_count={pages}")).result()
    raw, other = _uncosted(1, prompt_text="x" * 8000), _costed(_uncosted(2))
    writer.put_early(raw)
    writer.put([other])
    assert writer.flush().result(timeout=20) is False  # tried, failed, kept in memory
    errors = {"error_type": "disk_full"}
    assert registry.get_sample_value("inferwatch_store_write_errors_total", errors) >= 1
    assert registry.get_sample_value("inferwatch_store_records_pending") == 2
    assert query() == [] and _held(query) == set()
    writer.submit(lambda c: c.execute("PRAGMA max_page_count=1073741823")).result()
    writer.put([_costed(raw)])
    for _ in range(2000):  # the writer retries after its backoff
        if len(query()) == 2:
            break
        time.sleep(0.01)
    want = [(raw.request_id, "final"), (other.request_id, "final")]
    assert sorted(r[:2] for r in query()) == sorted(want)
    assert _held(query) == set()


def _v4_database(path) -> sqlite3.Connection:
    """A database as agents before the held table left it (schema v4)."""
    conn = schema.connect(str(path))
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    for version, step in enumerate(schema.MIGRATIONS[:4]):
        if callable(step):
            step(conn)
        else:
            for statement in schema._statements(step):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={version + 1}")
    return conn


def test_rows_left_pending_by_an_older_agent_are_finalised_as_lost_by_the_migration(tmp_path):
    conn = _v4_database(tmp_path / "old.sqlite3")
    shipped, outbox = make_record(1), make_record(2)
    pending = [_uncosted(3), _uncosted(4)]
    conn.execute(PRE_V6_INSERT, pre_v6_row(shipped, schema.COST_FINAL, 1))
    conn.execute(PRE_V6_INSERT, pre_v6_row(outbox, schema.COST_FINAL, 7))
    conn.executemany(PRE_V6_INSERT, [pre_v6_row(r, schema.COST_PENDING) for r in pending])
    assert schema.migrate(conn) == 4
    got = conn.execute(f"SELECT {_COLS} FROM requests ORDER BY id").fetchall()  # noqa: S608
    assert [(r[0], r[1], r[4]) for r in got] == [
        (shipped.request_id, "final", 1),
        (outbox.request_id, "final", 7),
        (pending[0].request_id, "lost", 10),  # after the outbox's last number, in id order
        (pending[1].request_id, "lost", 11),
    ]
    assert conn.execute("SELECT count(*) FROM held").fetchone() == (0,)
    conn.close()


def test_a_v1_database_is_migrated_and_its_outbox_keeps_its_order(tmp_path):
    conn = schema.connect(str(tmp_path / "v1.db"))
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    for statement in schema._statements(schema.MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    v1_insert = f"INSERT INTO requests ({', '.join(schema.DATA_COLUMNS)}, ship_state) VALUES "
    v1_insert += f"({', '.join('?' * (len(schema.DATA_COLUMNS) + 1))})"
    conn.executemany(v1_insert, [(*to_data(make_record(i)), i % 2) for i in range(4)])
    assert schema.migrate(conn) == 1
    got = conn.execute("SELECT id, cost_status, ship_seq FROM requests ORDER BY id").fetchall()
    assert got == [(1, "final", 1), (2, "final", None), (3, "final", 3), (4, "final", None)]
    conn.close()
