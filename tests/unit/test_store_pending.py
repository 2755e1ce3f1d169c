"""Write early, complete later: a record is journalled the moment its request ends, its
costed version is one final row (and leaves the journal), and records whose cost never
came become cost-lost rows (at start, and after a timeout); rows left pending by an older
agent are finalised as lost at start."""

from __future__ import annotations

import dataclasses
import errno
import os
import sqlite3
import time

import pytest

from agent.metrics import new_registry
from agent.record import SafetyVerdict
from agent.store import journal, schema
from agent.store.config import StoreConfig
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


def _segments(tmp_path) -> list:
    return sorted(tmp_path.glob("pending-*.jsonl"))


def test_the_early_write_goes_to_the_journal_and_the_costed_version_is_one_final_row(
    store, tmp_path
):
    writer, registry, rows = store()
    raw = _uncosted(1)
    writer.put_early(raw)
    assert writer.flush().result(timeout=20)
    assert rows() == []  # not a row while the cost engine holds it: a journal line
    (segment,) = _segments(tmp_path)
    assert raw.request_id.encode() in segment.read_bytes()
    # The costed version also carries what changed meanwhile (a verdict merged off-path).
    more = (*raw.safety, SafetyVerdict("secret.aws_key", "output", "block", 1))
    writer.put([_costed(raw, safety=more)])
    assert writer.flush().result(timeout=20)
    assert rows() == [(raw.request_id, "final", 0.25, 3, 1)]
    assert registry.get_sample_value("inferwatch_store_records_written_total") == 1
    writer.close()  # nothing open: the journal leaves no file behind
    assert _segments(tmp_path) == []


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
    assert got[0][4] < got[1][4]  # both offered to the shipper, in order


def test_records_held_by_a_killed_agent_become_lost_rows_at_start(store, tmp_path):
    writer, _, _ = store()
    orphan, done = _uncosted(1), _uncosted(2)
    writer.put_early(orphan)
    writer.put_early(done)
    assert writer.flush().result(timeout=20)
    writer.put([_costed(done)])
    assert writer.flush().result(timeout=20)
    writer.close()  # the costed `orphan` never comes: the agent "died" holding it
    with _segments(tmp_path)[0].open("ab") as f:
        f.write(b'{"request_id": "cut off by the cra')  # a line a crash cut short
    _, registry, rows = store()
    assert rows() == [
        (done.request_id, "final", 0.25, 2, 1),
        (orphan.request_id, "lost", None, 2, 2),
    ]
    assert registry.get_sample_value("inferwatch_store_cost_lost_total", {"reason": "restart"}) == 1
    assert _segments(tmp_path) == []  # recovered, then cleared


def test_a_batch_retried_after_a_failed_commit_is_journalled_twice_and_recovered_once(
    store, tmp_path
):
    writer, _, _ = store()
    orphan = _uncosted(1)
    writer.put_early(orphan)
    assert writer.flush().result(timeout=20)
    writer.close()
    (segment,) = _segments(tmp_path)
    segment.write_bytes(segment.read_bytes() * 2)  # the same line twice
    _, _, rows = store()
    assert rows() == [(orphan.request_id, "lost", None, 2, 1)]


def test_journal_records_past_the_timeout_become_lost_rows(store):
    writer, registry, rows = store(pending_timeout_s=0.2)
    stale, fresh = _uncosted(1, wall_time=time.time() - 60), _uncosted(2)
    writer.put_early(stale)
    writer.put_early(fresh)
    lost = {"reason": "timeout"}
    for _ in range(2000):  # a wait for the writer's periodic pass, not a timed assertion
        if registry.get_sample_value("inferwatch_store_cost_lost_total", lost):
            break
        time.sleep(0.01)
    assert rows() == [(stale.request_id, "lost", None, 2, 1)]  # `fresh` may still get its cost
    writer.put([_costed(fresh)])
    assert writer.flush().result(timeout=20)
    assert [r[:2] for r in rows()] == [(stale.request_id, "lost"), (fresh.request_id, "final")]


def test_a_journal_that_cannot_be_written_keeps_the_records_until_it_can(store, monkeypatch):
    writer, registry, rows = store()
    real_write = os.write

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal.os, "write", disk_full)
    raw, other = _uncosted(1), _costed(_uncosted(2))
    writer.put_early(raw)
    writer.put([other])
    assert writer.flush().result(timeout=20) is False  # tried, failed, kept in memory
    errors = {"error_type": "disk_full"}
    assert registry.get_sample_value("inferwatch_store_write_errors_total", errors) >= 1
    assert registry.get_sample_value("inferwatch_store_records_pending") == 2
    assert rows() == []
    monkeypatch.setattr(journal.os, "write", real_write)
    writer.put([_costed(raw)])
    for _ in range(2000):  # the writer retries after its backoff
        if len(rows()) == 2:
            break
        time.sleep(0.01)
    want = [(raw.request_id, "final"), (other.request_id, "final")]
    assert sorted(r[:2] for r in rows()) == sorted(want)


def test_rows_left_pending_by_an_older_agent_are_finalised_as_lost_at_start(store, tmp_path):
    writer, _, _ = store()
    writer.close()
    db = sqlite3.connect(tmp_path / "requests.sqlite3")
    from agent.store.rows import to_row

    old = _uncosted(1)
    db.execute(schema.INSERT_SQL, to_row(old, schema.COST_PENDING))
    db.commit()
    db.close()
    _, registry, rows = store()
    assert rows() == [(old.request_id, "lost", None, 2, 1)]
    assert registry.get_sample_value("inferwatch_store_cost_lost_total", {"reason": "restart"}) == 1


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


def test_new_segments_never_append_to_one_a_failed_start_left_behind(tmp_path):
    left = tmp_path / "pending-00000007.jsonl"
    left.write_bytes(b"old\n")
    j = journal.Journal(tmp_path)
    j.append([_uncosted(1)])
    j.close()
    assert left.read_bytes() == b"old\n"
    assert [p.name for p in _segments(tmp_path)] == [left.name, "pending-00000008.jsonl"]
