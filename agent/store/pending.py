"""Pending rows, written before their cost by agents older than the early-write journal
(see `journal`): finalising those whose cost never came, at start.

Every function runs on the store's writer thread, inside (or as) one transaction, and
numbers the rows it makes shippable from `seq + 1` on (`ship_seq`, see `schema`).
"""

from __future__ import annotations

import sqlite3

from agent.store import schema


def last_seq(conn: sqlite3.Connection) -> int:
    """The highest `ship_seq` of the outbox (new numbers go above it; the index answers)."""
    sql = "SELECT max(ship_seq) FROM requests WHERE ship_state = 0 AND ship_seq IS NOT NULL"
    return conn.execute(sql).fetchone()[0] or 0


def lost_sql(ended_before: float | None) -> tuple[str, tuple]:
    """The query of `finalise_lost`: pending rows, through their partial index. Sorted in
    Python, not by `ORDER BY id`: with it SQLite chose to scan the whole table in id order,
    every 10 s, however few rows were pending."""
    sql = f"SELECT id FROM requests WHERE cost_status = '{schema.COST_PENDING}'"  # noqa: S608
    if ended_before is None:
        return sql, ()
    return sql + " AND wall_time + latency_s < ?", (ended_before,)


def finalise_lost(conn: sqlite3.Connection, ended_before: float | None, seq: int) -> int:
    """Finalise, as cost-lost, rows pending whose request ended before `ended_before`
    (epoch seconds; None: all of them). Its own transaction; returns the rows finalised."""
    sql, params = lost_sql(ended_before)
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = sorted(row[0] for row in conn.execute(sql, params))
        conn.executemany(
            f"UPDATE requests SET cost_status = '{schema.COST_LOST}', ship_seq = ? WHERE id = ?",
            [(seq + i + 1, row_id) for i, row_id in enumerate(ids)],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(ids)
