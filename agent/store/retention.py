"""Retention by age and by size, and the disk bound, run on the writer's connection (never
on the event loop).

When shipping to Elasticsearch is on, the age and size rules never delete rows still in
the outbox: an outage must lose nothing, so they yield to it (and the agent warns). The
disk bound (`store.max_disk_bytes`) does not yield: past it the oldest rows go, shipped or
not, and the caller counts the unshipped ones (a full disk would stop the store and lose
every new record instead).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.store import rollups_sql
from agent.store.config import RetentionConfig
from agent.store.schema import PENDING

log = logging.getLogger("inferwatch.store.retention")

_MARGIN = 1.1  # delete a little more than the excess, so the next check has room
# Rows deleted per pass and rule: one short transaction, so the writer thread (and the
# records waiting for it) is never held up for long; the next pass deletes more.
CHUNK = 50_000


@dataclass(frozen=True, slots=True)
class Deleted:
    """Rows removed by one retention pass."""

    by_age: int = 0
    by_size: int = 0
    by_disk: int = 0
    unshipped_by_disk: int = 0  # of `by_disk`, rows Elasticsearch had not acknowledged

    @property
    def more(self) -> bool:
        """A rule hit its per-pass chunk: another pass should follow soon."""
        return max(self.by_age, self.by_size, self.by_disk) >= CHUNK


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database holding data (pages in use, free pages excluded)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * size


def age_sql(keep: str = "") -> str:
    """The age rule's rows (cutoff, chunk): `SELECT id`. Oldest first by `wall_time`, so
    SQLite walks the wall-time index from its start: ordered by id it scanned the whole
    table on every pass, and most passes find nothing to delete."""
    return f"SELECT id FROM requests WHERE wall_time < ?{keep} ORDER BY wall_time LIMIT ?"


def apply(
    conn: sqlite3.Connection,
    config: RetentionConfig,
    keep_unshipped: bool,
    now: float | None = None,
    disk: tuple[int, Callable[[], int]] | None = None,
) -> Deleted:
    """One pass: age first, then size, then the disk bound `disk` (bytes, a function
    measuring the store's files; bytes 0: none). Frees the pages it emptied."""
    keep = f" AND ship_state != {PENDING}" if keep_unshipped else ""
    cutoff = (now or time.time()) - config.max_age_days * 86400
    by_age = _delete_rows(conn, age_sql(keep), (cutoff, CHUNK))
    for table in ("rejects", "dead_letters"):  # kept as long as the request log, no longer
        _delete(conn, f"DELETE FROM {table} WHERE at < ?", (cutoff,))  # noqa: S608
    by_size = _trim_to_size(conn, int(config.max_size_mb * 1024 * 1024), keep)
    if by_age or by_size:
        _vacuum(conn)
    by_disk, unshipped = _trim_to_disk(conn, *disk, keep_unshipped) if disk and disk[0] else (0, 0)
    return Deleted(by_age, by_size, by_disk, unshipped)


def _trim_to_disk(
    conn: sqlite3.Connection, limit: int, measure: Callable[[], int], count_unshipped: bool
) -> tuple[int, int]:
    """Delete the oldest rows, shipped or not, until the data fit in `limit` bytes with
    the files `measure` counts (-wal, -shm). The database counts by its pages in use: a
    database made with auto_vacuum off (before v3 of this agent) never shrinks, but its
    free pages are reused. Returns (rows deleted, unshipped among them if counted)."""
    if used_bytes(conn) + measure() <= limit:
        return 0, 0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL may be most of it
    data = used_bytes(conn)
    used = data + measure()
    rows = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    if used <= limit or not rows or not data:
        return 0, 0
    n = min(CHUNK, int(rows * min(1.0, (used - limit) / data) * _MARGIN) + 1)
    oldest = "SELECT id, ship_state FROM requests ORDER BY id LIMIT ?"
    unshipped = 0
    if count_unshipped:  # the same rows as the DELETE: nothing else writes between
        sql = f"SELECT count(*) FROM ({oldest}) WHERE ship_state = {PENDING}"  # noqa: S608
        unshipped = conn.execute(sql, (n,)).fetchone()[0]
    deleted = _delete_rows(conn, "SELECT id FROM requests ORDER BY id LIMIT ?", (n,))
    _vacuum(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # give the freed pages back to the disk
    return deleted, unshipped


def _trim_to_size(conn: sqlite3.Connection, limit: int, keep: str) -> int:
    used = used_bytes(conn)
    if used <= limit:
        return 0
    rows = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    if not rows:
        return 0
    excess = min(CHUNK, int(rows * (used - limit) / used * _MARGIN) + 1)
    sql = f"SELECT id FROM requests WHERE 1=1{keep} ORDER BY id LIMIT ?"
    deleted = _delete_rows(conn, sql, (excess,))
    if deleted < excess:
        log.warning(
            "store is above its size bound because unshipped rows are kept for Elasticsearch",
            extra={"used_bytes": used, "max_bytes": limit},
        )
    return deleted


def _delete(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = conn.execute(sql, params).rowcount
        conn.execute("COMMIT")
        return n
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _delete_rows(conn: sqlite3.Connection, select_ids: str, params: tuple) -> int:
    """Delete the rows `select_ids` selects and subtract their rollups, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = [row[0] for row in conn.execute(select_ids, params)]
        if ids:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id INTEGER PRIMARY KEY)")
            conn.execute("DELETE FROM doomed")
            conn.executemany("INSERT INTO doomed VALUES (?)", ((i,) for i in ids))
            where = "id IN (SELECT id FROM doomed)"
            delta = rollups_sql.rows_delta(conn, where)
            conn.execute(f"DELETE FROM requests WHERE {where}")  # noqa: S608
            rollups_sql.write(conn, delta, sign=-1)
        conn.execute("COMMIT")
        return len(ids)
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _vacuum(conn: sqlite3.Connection) -> None:
    """Give freed pages back to the file system. Through `executescript`: `execute` steps
    the pragma once, which frees one page (sqlite3 runs a statement without result columns
    a single step), so the database file never shrank."""
    conn.executescript("PRAGMA incremental_vacuum")
