"""Poison records: a record whose values SQLite or orjson refuse (a lone surrogate, as
aiohttp decodes a non-UTF-8 header byte; an int past 64 bits; a repeated request id) is
kept in the `rejects` table and counted; the rest of its batch is written, and the writer
goes on (it used to retry the batch forever with a transaction left open). Same for the
held records (the early write) and their recovery at start."""

from __future__ import annotations

import dataclasses
import sqlite3

import orjson
import pytest

from agent.store import schema
from tests.store_records import make_record, store_factory

pytestmark = pytest.mark.unit

BAD_HEADER = "t\udcff"  # what aiohttp makes of the header byte 0xff


@pytest.fixture
def store(tmp_path):
    """(early=False, **config) -> (writer, registry, query(sql))."""
    yield from store_factory(tmp_path, False)


def _rejected(registry, reason: str) -> float:
    return registry.get_sample_value("inferwatch_store_records_rejected_total", {"reason": reason})


def test_a_poison_record_goes_to_rejects_and_the_rest_of_its_batch_is_written(store, caplog):
    writer, registry, query = store()
    good = [make_record(i) for i in range(6)]
    poison = [
        make_record(10, tenant=BAD_HEADER),
        make_record(11, prompt_tokens=2**63),  # orjson writes it, SQLite cannot bind it
        make_record(12, extra={"k": BAD_HEADER}),
    ]
    writer.put([*good[:3], *poison, *good[3:]])
    assert writer.flush().result(timeout=20) is True
    stored = query("SELECT request_id FROM requests ORDER BY id")
    assert [r[0] for r in stored] == [r.request_id for r in good]
    got = query("SELECT request_id, reason, error, record FROM rejects ORDER BY id")
    assert [(r[0], r[1]) for r in got] == [(p.request_id, "unencodable") for p in poison]
    assert "surrogates not allowed" in got[0][2]
    assert orjson.loads(got[0][3])["tenant"] == "t\\udcff"  # kept, made safe
    assert orjson.loads(got[1][3])["prompt_tokens"] == 2**63
    assert _rejected(registry, "unencodable") == 3
    assert registry.get_sample_value("inferwatch_store_records_written_total") == 6
    assert [r.message for r in caplog.records].count(
        "store refused a record; kept in the rejects table"
    ) == 1  # once per kind
    # The writer is not wedged: the next records go straight in.
    after = make_record(20)
    writer.put([after])
    assert writer.flush().result(timeout=20) is True
    assert query("SELECT count(*) FROM requests")[0][0] == 7
    assert not writer.failing


def test_a_repeated_request_id_is_a_counted_reject_not_a_second_row(store):
    writer, registry, query = store()
    first = make_record(1)
    again = dataclasses.replace(make_record(2), request_id=first.request_id)
    writer.put([first])
    assert writer.flush().result(timeout=20) is True
    writer.put([make_record(3), again, make_record(4)])
    assert writer.flush().result(timeout=20) is True
    assert query("SELECT count(*) FROM requests")[0][0] == 3
    assert query("SELECT request_id, reason FROM rejects") == [(first.request_id, "duplicate")]
    assert _rejected(registry, "duplicate") == 1
    (kept,) = query(f"SELECT record FROM requests WHERE request_id = '{first.request_id}'")  # noqa: S608
    assert orjson.loads(kept[0])["span_id"] == first.span_id  # the first one stays


def test_the_client_request_id_has_its_own_column(store):
    writer, _, query = store()
    r = make_record(1, client_request_id="client-abc")
    writer.put([r])
    assert writer.flush().result(timeout=20) is True
    assert query("SELECT request_id, client_request_id FROM requests") == [
        (r.request_id, "client-abc")
    ]


def test_a_poison_record_does_not_break_the_held_records_nor_their_recovery(store, tmp_path):
    writer, registry, query = store(early=True)
    good = [make_record(i, cost_amount=None) for i in range(3)]
    poison = make_record(9, tenant=BAD_HEADER, cost_amount=None)
    for r in (good[0], poison, good[1], good[2]):
        writer.put_early(r)
    assert writer.flush().result(timeout=20) is True
    kept = dict(query("SELECT request_id, record FROM held"))
    assert set(kept) == {r.request_id for r in (*good, poison)}
    assert orjson.loads(kept[poison.request_id])["tenant"] == "t\\udcff"  # its value made safe
    # The costed versions of two: the poison one is refused into rejects, and not held.
    writer.put([dataclasses.replace(good[0], cost_amount=0.5), poison])
    assert writer.flush().result(timeout=20) is True
    assert query("SELECT request_id, reason FROM rejects") == [(poison.request_id, "unencodable")]
    assert {r[0] for r in query("SELECT request_id FROM held")} == {
        good[1].request_id,
        good[2].request_id,
    }
    writer.close()  # killed holding good[1] and good[2]; add entries recovery cannot store
    other = make_record(30)
    bad = orjson.loads(orjson.dumps(make_record(31)))
    bad["tenant"] = {"not": "a string"}  # SQLite cannot bind a dict
    with sqlite3.connect(tmp_path / "requests.sqlite3") as db:
        db.executemany(
            "INSERT INTO held VALUES (?, 0, ?)",
            [
                # held under an id whose row is stored already: left out, not a duplicate
                (
                    good[0].request_id,
                    orjson.dumps(dataclasses.replace(other, request_id=good[0].request_id)),
                ),
                (bad["request_id"], orjson.dumps(bad)),
                ("unreadable", b"{not json"),
            ],
        )
    db.close()
    _, registry, query = store(early=True)  # restart: recovery stores what it can
    rows = query("SELECT request_id, cost_status FROM requests ORDER BY id")
    assert rows == [
        (good[0].request_id, "final"),
        (good[1].request_id, "lost"),
        (good[2].request_id, "lost"),
    ]
    assert query("SELECT request_id, reason FROM rejects ORDER BY id") == [
        (poison.request_id, "unencodable"),
        (bad["request_id"], "invalid"),  # a type SQLite cannot bind
    ]
    assert registry.get_sample_value("inferwatch_store_cost_lost_total", {"reason": "restart"}) == 2
    assert query("SELECT count(*) FROM held") == [(0,)]  # cleared: the next start is clean


def test_a_request_id_sqlite_cannot_bind_does_not_wedge_the_held_records(store):
    writer, registry, query = store(early=True)
    bad = make_record(1, request_id=BAD_HEADER, cost_amount=None)
    good = make_record(2, cost_amount=None)
    writer.put_early(bad)
    writer.put_early(good)
    assert writer.flush().result(timeout=20) is True  # committed: `good` is held
    assert query("SELECT request_id FROM held") == [(good.request_id,)]
    writer.put(
        [dataclasses.replace(bad, cost_amount=0.5), dataclasses.replace(good, cost_amount=0.5)]
    )
    assert writer.flush().result(timeout=20) is True
    assert query("SELECT request_id, cost_status FROM requests") == [(good.request_id, "final")]
    assert query("SELECT reason FROM rejects") == [("unencodable",)]
    assert query("SELECT count(*) FROM held") == [(0,)]
    assert not writer.failing


def test_an_old_database_with_repeated_request_ids_migrates_and_keeps_them(tmp_path):
    conn = schema.connect(str(tmp_path / "old.sqlite3"))
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    for step in schema.MIGRATIONS[:2]:
        for statement in schema._statements(step):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    cols = ", ".join(schema.DATA_COLUMNS)
    insert = f"INSERT INTO requests ({cols}) VALUES ({', '.join('?' * len(schema.DATA_COLUMNS))})"  # noqa: S608
    from agent.store.rows import to_data

    same = [make_record(i, request_id="client-chosen") for i in range(3)]
    conn.executemany(insert, [to_data(r) for r in [*same, make_record(9)]])
    assert schema.migrate(conn) == 2
    ids = [r[0] for r in conn.execute("SELECT request_id FROM requests ORDER BY id")]
    assert ids[:3] == ["client-chosen", "client-chosen#dup-2", "client-chosen#dup-3"]
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(schema.INSERT_SQL, (*to_data(same[0]), 0, "final", None, None, None, None))
    conn.close()
