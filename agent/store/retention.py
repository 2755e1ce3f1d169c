"""Retention by age and by size, run on the writer's connection (never on the event loop).

When shipping to Elasticsearch is on, rows still in the outbox are never deleted: an
outage of any length must lose nothing, so the size bound yields to the outbox (and the
agent warns).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass

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

    @property
    def more(self) -> bool:
        """A rule hit its per-pass chunk: another pass should follow soon."""
        return max(self.by_age, self.by_size) >= CHUNK


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database holding data (pages in use, free pages excluded)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * size


def age_sql(keep: str = "") -> str:
    """The age rule's DELETE (cutoff, chunk). Oldest first by `wall_time`, so SQLite walks
    the wall-time index from its start: ordered by id it scanned the whole table on every
    pass, and most passes find nothing to delete."""
    return (
        "DELETE FROM requests WHERE id IN "  # noqa: S608
        f"(SELECT id FROM requests WHERE wall_time < ?{keep} ORDER BY wall_time LIMIT ?)"
    )


def apply(
    conn: sqlite3.Connection,
    config: RetentionConfig,
    keep_unshipped: bool,
    now: float | None = None,
) -> Deleted:
    """One pass: age first, then size. Frees the pages it emptied."""
    keep = f" AND ship_state != {PENDING}" if keep_unshipped else ""
    cutoff = (now or time.time()) - config.max_age_days * 86400
    by_age = _delete(conn, age_sql(keep), (cutoff, CHUNK))
    by_size = _trim_to_size(conn, int(config.max_size_mb * 1024 * 1024), keep)
    if by_age or by_size:
        conn.execute("PRAGMA incremental_vacuum")
    return Deleted(by_age, by_size)


def _trim_to_size(conn: sqlite3.Connection, limit: int, keep: str) -> int:
    used = used_bytes(conn)
    if used <= limit:
        return 0
    rows = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    if not rows:
        return 0
    excess = min(CHUNK, int(rows * (used - limit) / used * _MARGIN) + 1)
    sql = f"DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE 1=1{keep} ORDER BY id LIMIT ?)"
    deleted = _delete(conn, sql, (excess,))
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
