"""Write early, complete later: a record is stored (pending) the moment its request ends,
its costed version completes that row, the outbox never offers a pending row, and rows
whose cost never came are finalised as cost-lost (at start, and after a timeout)."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import pytest

from agent.metrics import new_registry
from agent.record import SafetyVerdict
from agent.store import schema
from agent.store.config import StoreConfig
from agent.store.outbox import Outbox
from agent.store.rows import to_data
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record

pytestmark = pytest.mark.unit

_COLS = "request_id, cost_status, cost_amount, safety_hits, ship_seq"


@pytest.fixture
def store(tmp_path):
    """(**config) -> (writer, registry, rows()) with writers closed afterwards."""
    made = []

    def make(**kw):
        config = StoreConfig(dir=tmp_path, **kw)
        registry, instruments = new_registry()
        writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=True, early=True)
        writer.start()
        made.append(writer)

        def rows() -> list[tuple]:
            db = sqlite3.connect(config.path)
            try:
                return db.execute(f"SELECT {_COLS} FROM requests ORDER BY id").fetchall()  # noqa: S608
            finally:
                db.close()

        return writer, registry, rows

    yield make
    for w in made:
        w.close()


def _uncosted(i: int, **kw):
    """A record as the proxy finishes it: no cost yet."""
    fields = dict(cost_currency=None, cost_amount=None, cost_device_seconds=None, cost_joules=None)
    return make_record(i, **(fields | kw))


def _costed(record, **kw):
    return dataclasses.replace(record, cost_currency="USD", cost_amount=0.25, **kw)


def test_the_early_write_is_pending_and_the_costed_version_completes_the_same_row(store):
    writer, registry, rows = store()
    raw = _uncosted(1)
    writer.put_early(raw)
    assert writer.flush().result(timeout=20)
    assert rows() == [(raw.request_id, "pending", None, 2, None)]
    # The costed version also carries what changed meanwhile (a verdict merged off-path).
    more = (*raw.safety, SafetyVerdict("secret.aws_key", "output", "block", 1))
    writer.put([_costed(raw, safety=more)])
    assert writer.flush().result(timeout=20)
    assert rows() == [(raw.request_id, "final", 0.25, 3, 1)]
    assert registry.get_sample_value("inferwatch_store_records_written_total") == 1


def test_a_costed_record_whose_early_write_was_skipped_is_inserted_once(store):
    writer, _, rows = store()
    first, second = _uncosted(1), _uncosted(2)
    writer.put_early(first)  # `second` never had its early write (memory bound)
    writer.put([_costed(first), _costed(second)])
    assert writer.flush().result(timeout=20)
    got = rows()
    assert [r[:4] for r in got] == [
        (first.request_id, "final", 0.25, 2),
        (second.request_id, "final", 0.25, 2),
    ]
    assert got[0][4] < got[1][4]  # both offered to the shipper, in order (numbers may skip)


def test_the_outbox_never_offers_a_pending_row_and_offers_it_once_final(store, tmp_path):
    writer, _, _ = store()
    early, late = _uncosted(1, wall_time=time.time() - 5), _uncosted(2)
    empty = Outbox(str(tmp_path / "requests.sqlite3"), writer)
    assert empty.backlog() == 0 and empty.oldest_wall_time() is None
    empty.close()
    writer.put_early(early)
    writer.put_early(late)
    writer.put([_costed(late)])
    assert writer.flush().result(timeout=20)
    outbox = Outbox(str(tmp_path / "requests.sqlite3"), writer)
    try:
        offered = outbox.fetch(0, 100)
        assert [r[3] for r in offered] == ["final"]
        assert outbox.backlog() == 2  # the complete row and the one waiting for its cost
        assert outbox.oldest_wall_time() == early.wall_time  # the waiting one counts for lag
        assert late.request_id in offered[0][2]
        cursor = offered[-1][1]  # the shipper's cursor is past `late`, whose id is higher
        writer.put([_costed(early)])
        assert writer.flush().result(timeout=20)
        (again,) = outbox.fetch(cursor, 100)
        assert early.request_id in again[2] and again[3] == "final"
    finally:
        outbox.close()


def test_rows_left_pending_by_a_killed_agent_are_finalised_as_lost_at_start(store):
    writer, _, _ = store()
    orphan = _uncosted(1)
    writer.put_early(orphan)
    assert writer.flush().result(timeout=20)
    writer.close()  # the costed version never comes: the agent "died" holding it
    _, registry, rows = store()
    assert rows() == [(orphan.request_id, "lost", None, 2, 1)]
    assert registry.get_sample_value("inferwatch_store_cost_lost_total", {"reason": "restart"}) == 1


def test_rows_pending_past_the_timeout_are_finalised_as_lost(store):
    writer, registry, rows = store(pending_timeout_s=0.2)
    stale, fresh = _uncosted(1, wall_time=time.time() - 60), _uncosted(2)
    writer.put_early(stale)
    writer.put_early(fresh)
    lost = {"reason": "timeout"}
    for _ in range(2000):  # a wait for the writer's periodic pass, not a timed assertion
        if registry.get_sample_value("inferwatch_store_cost_lost_total", lost):
            break
        time.sleep(0.01)
    assert [r[:2] for r in rows()] == [(stale.request_id, "lost"), (fresh.request_id, "pending")]


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
