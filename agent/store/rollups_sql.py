"""The rollup tables (schema v4) and the statements that keep them equal to the rows:
`write` upserts a `rollups.Delta`, `rows_delta` reads back the rows a statement selects
(retention subtracts them, the migration back-fills from them)."""

from __future__ import annotations

import sqlite3

import orjson

from agent.store import rollups
from agent.store.bins import INT_MEASURES

_M = rollups.MEASURES
_INTS = INT_MEASURES


def ddl() -> list[str]:
    """CREATE statements of the rollup tables (and the index `order="cost"` reads)."""
    out = []
    for res in rollups.RESOLUTIONS:
        measures = ", ".join(f"{m} {'INTEGER' if m in _INTS else 'REAL'} NOT NULL" for m in _M)
        keys = ", ".join(
            f"{k} {'INTEGER' if k == 'stream' else 'TEXT'} NOT NULL" for k in rollups.KEYS
        )
        out.append(
            f"CREATE TABLE rollup_{res} (t INTEGER NOT NULL, {keys}, {measures}, "
            f"PRIMARY KEY (t, {', '.join(rollups.KEYS)})) WITHOUT ROWID"
        )
        out.append(
            f"CREATE TABLE hist_{res} (t INTEGER NOT NULL, tenant TEXT NOT NULL, "
            "model TEXT NOT NULL, metric INTEGER NOT NULL, bin INTEGER NOT NULL, "
            "n INTEGER NOT NULL, PRIMARY KEY (t, metric, tenant, model, bin)) WITHOUT ROWID"
        )
        out.append(
            f"CREATE TABLE safety_{res} (t INTEGER NOT NULL, tenant TEXT NOT NULL, "
            "model TEXT NOT NULL, filter TEXT NOT NULL, direction TEXT NOT NULL, "
            "action TEXT NOT NULL, hits INTEGER NOT NULL, "
            "PRIMARY KEY (t, tenant, model, filter, direction, action)) WITHOUT ROWID"
        )
    # The most expensive / slowest requests of a wide range: walked from the top instead of
    # sorting every row of the range (see dashboards.data.store.StoreData.requests); with
    # wall_time in the index, rows out of range are passed over without reading the table.
    out.append("CREATE INDEX requests_cost ON requests (cost_amount, wall_time)")
    out.append("CREATE INDEX requests_latency ON requests (latency_s, wall_time)")
    return out


def _upsert(table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> str:
    cols = ("t", *keys, *values)
    add = ", ".join(f"{v} = {v} + excluded.{v}" for v in values)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "  # noqa: S608
        f"ON CONFLICT (t, {', '.join(keys)}) DO UPDATE SET {add}"
    )


_HIST_KEYS = ("tenant", "model", "metric", "bin")
_SAFETY_KEYS = ("tenant", "model", "filter", "direction", "action")
_UPSERT = {
    res: (
        _upsert(f"rollup_{res}", rollups.KEYS, _M),
        _upsert(f"hist_{res}", _HIST_KEYS, ("n",)),
        _upsert(f"safety_{res}", _SAFETY_KEYS, ("hits",)),
    )
    for res in rollups.RESOLUTIONS
}


def write(conn: sqlite3.Connection, delta: rollups.Delta, sign: int = 1) -> None:
    """Upsert `delta` (added, or subtracted with `sign` -1: then buckets left empty are
    deleted). Inside the caller's transaction."""
    for res, (measures, hist, safety) in _UPSERT.items():
        m, h, s = delta.measures[res], delta.hist[res], delta.safety[res]
        conn.executemany(measures, [(*k, *_signed(v, sign)) for k, v in m.items()])
        conn.executemany(hist, [(*k, sign * n) for k, n in h.items()])
        conn.executemany(safety, [(*k, sign * n) for k, n in s.items()])
    if sign < 0:
        _drop_empty(conn, delta)


def _signed(values: list, sign: int) -> list:
    return values if sign > 0 else [-v for v in values]


def _drop_empty(conn: sqlite3.Connection, delta: rollups.Delta) -> None:
    """Delete the buckets `delta` emptied (within its time span, through the keys)."""
    ts = [k[0] for keys in delta.measures.values() for k in keys]  # hours start earlier
    if not ts:
        return
    span = (min(ts), max(ts))
    for res in rollups.RESOLUTIONS:
        for table, column in (("rollup", "requests"), ("hist", "n"), ("safety", "hits")):
            conn.execute(
                f"DELETE FROM {table}_{res} WHERE t BETWEEN ? AND ? AND {column} <= 0",  # noqa: S608
                span,
            )


def rows_delta(conn: sqlite3.Connection, where: str, params: tuple = ()) -> rollups.Delta:
    """The rollups of the rows `SELECT ... FROM requests WHERE {where}` selects."""
    sql = f"SELECT {rollups.FACT_SQL} FROM requests WHERE {where}"  # noqa: S608
    delta = rollups.Delta()
    cursor = conn.execute(sql, params)
    while chunk := cursor.fetchmany(10_000):
        rollups.aggregate(_facts(chunk), delta)
    return delta


def _facts(rows: list[tuple]):
    for row in rows:
        safety = row[-1]
        yield (*row[:-1], orjson.loads(safety) if safety and safety != "[]" else ())


BACKFILL_CHUNK = 50_000


def backfill(conn: sqlite3.Connection) -> int:
    """Add the rollups of every row (the migration to v4: rows an older agent wrote), in
    chunks of ids (bounded memory). Returns the rows counted."""
    last, total = 0, 0
    while True:
        ids = conn.execute(
            "SELECT min(id), max(id), count(*) FROM "
            "(SELECT id FROM requests WHERE id > ? ORDER BY id LIMIT ?)",
            (last, BACKFILL_CHUNK),
        ).fetchone()
        if not ids[2]:
            return total
        write(conn, rows_delta(conn, "id BETWEEN ? AND ?", ids[:2]))
        last, total = ids[1], total + ids[2]
