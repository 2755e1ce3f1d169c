"""Records the cost engine still holds, kept in the store's `held` table until their costed
version is a row.

With the cost engine on, a record is written the moment its request ends (the writer's
`put_early`), so that an agent killed while the engine holds it (seconds) loses nothing.
The early write is an entry here; the costed version is inserted as a row and its entry
deleted, in the same transaction. Entries left without a row (a killed agent held them)
become cost-lost rows at the next start, and those whose request ended more than
`store.pending_timeout_s` ago, periodically (see `housekeeping`).

The table (`schema.HELD_DDL`) has no index but its key: it holds only what the engine
holds (a few thousand records at most), and the timeout pass reads it whole every few
seconds, which costs less than an index update on every insert and delete.

Every function runs on the writer's connection, inside the caller's transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable

import orjson

from agent.record import RequestRecord
from agent.store.rejects import RECORD_ERRORS, safe_json
from agent.store.rows import from_json

_ADD_SQL = "INSERT OR REPLACE INTO held (request_id, ended_at, record) VALUES (?, ?, ?)"
_DONE_SQL = "DELETE FROM held WHERE request_id = ?"
# Entries without a row: neither stored nor refused (through the request id indexes).
WITHOUT_ROW_SQL = (
    "SELECT record FROM held WHERE NOT EXISTS "
    "(SELECT 1 FROM requests WHERE requests.request_id = held.request_id) AND NOT EXISTS "
    "(SELECT 1 FROM rejects WHERE rejects.request_id = held.request_id) ORDER BY ended_at"
)


def _entry(r: RequestRecord) -> tuple:
    """A record orjson refuses (a lone surrogate, an int past 64 bits) is kept with those
    values made safe: its final version meets them and is refused into `rejects`; this
    entry only matters if the agent dies before that."""
    try:
        text = orjson.dumps(r).decode()
    except TypeError:
        text = safe_json(r)
    return (r.request_id, r.wall_time + r.duration_s, text)


def add(conn: sqlite3.Connection, records: Iterable[RequestRecord]) -> None:
    """Hold records (one written again after a failed commit replaces itself)."""
    _each(conn, _ADD_SQL, [_entry(r) for r in records])


def done(conn: sqlite3.Connection, request_ids: Iterable[str]) -> None:
    """Their rows are in (or refused): the entries go."""
    _each(conn, _DONE_SQL, [(i,) for i in request_ids])


def _each(conn: sqlite3.Connection, sql: str, params: list[tuple]) -> None:
    """`executemany`, or one by one when a request id cannot be bound (the agent makes
    its ids, so only a bug gets here): that entry is skipped, so its batch still commits
    (its record loses only the cover against a crash; its row is refused into `rejects`).
    Both statements are idempotent: those before the failure are simply run again."""
    try:
        conn.executemany(sql, params)
    except RECORD_ERRORS:
        for p in params:
            with contextlib.suppress(*RECORD_ERRORS):
                conn.execute(sql, p)


def without_row(conn: sqlite3.Connection) -> list[RequestRecord]:
    """Held records with no row and no reject (what a killed agent left behind), in the
    order their requests ended (as every query here: the order they are stored in)."""
    return _records(conn.execute(WITHOUT_ROW_SQL))


def older_than(conn: sqlite3.Connection, wall: float) -> list[RequestRecord]:
    """Held records whose request ended before `wall` (epoch seconds)."""
    return _records(
        conn.execute("SELECT record FROM held WHERE ended_at < ? ORDER BY ended_at", (wall,))
    )


def forget(conn: sqlite3.Connection, wall: float | None = None) -> None:
    """Drop the entries whose request ended before `wall` (all with None), once
    `older_than`'s (or `without_row`'s) records are stored."""
    if wall is None:
        conn.execute("DELETE FROM held")
    else:
        conn.execute("DELETE FROM held WHERE ended_at < ?", (wall,))


def _records(rows: Iterable[tuple[str]]) -> list[RequestRecord]:
    out = []
    for (text,) in rows:
        try:
            out.append(from_json(text))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            continue  # not a record this version can rebuild: nothing to store
    return out
