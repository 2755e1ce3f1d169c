"""The alert engine's history: every alert episode it recorded, kept after it resolved.

`engine_alerts` holds an alert only until the flush after it resolved (Alertmanager's
aggrGroup drops it then), so it cannot say what fired yesterday. `alert_history` keeps
one row per episode of an alert (a fingerprint from its start to its end), written with
every `EngineState.put_alert`, inside the engine's own transaction. A report that
overlaps the latest episode of its fingerprint (no end yet, or an end after the new
start: the overlap rule of Alertmanager's types.Alert.Merge) updates that episode;
otherwise a new episode begins. Episodes that ended more than `RETENTION_S` before the
latest report are pruned, so the table stays bounded.
"""

from __future__ import annotations

import json
import sqlite3

RETENTION_S = 30 * 86400.0

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS alert_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, fingerprint TEXT NOT NULL,
        alertname TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,
        source TEXT NOT NULL, starts_at REAL NOT NULL, ends_at REAL, last_seen REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS alert_history_fp ON alert_history (fingerprint, id)",
    "CREATE INDEX IF NOT EXISTS alert_history_start ON alert_history (starts_at)",
)


def create(conn: sqlite3.Connection) -> None:
    """Create the table and its indexes if they are missing."""
    for statement in SCHEMA:
        conn.execute(statement)


def put(conn: sqlite3.Connection, stored) -> None:
    """Record the state of one stored alert (an `engine.state.StoredAlert`), inside the
    caller's transaction: update its open episode or begin a new one."""
    a = stored.alert
    row = (
        a.name,
        json.dumps(dict(a.labels), sort_keys=True),
        json.dumps(dict(a.annotations), sort_keys=True),
        stored.source,
        a.starts_at,
        a.ends_at,
        stored.last_seen,
    )
    latest = conn.execute(
        "SELECT id, ends_at FROM alert_history WHERE fingerprint = ? ORDER BY id DESC LIMIT 1",
        (a.fingerprint,),
    ).fetchone()
    if latest is not None and (latest[1] is None or latest[1] > a.starts_at):
        conn.execute(
            "UPDATE alert_history SET alertname = ?, labels = ?, annotations = ?, source = ?,"
            " starts_at = ?, ends_at = ?, last_seen = ? WHERE id = ?",
            (*row, latest[0]),
        )
    else:
        conn.execute(
            "INSERT INTO alert_history (fingerprint, alertname, labels, annotations, source,"
            " starts_at, ends_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (a.fingerprint, *row),
        )
    # An episode ends after it starts: `starts_at < cutoff` lets the index find them.
    cutoff = stored.last_seen - RETENTION_S
    conn.execute(
        "DELETE FROM alert_history WHERE starts_at < ? AND ends_at IS NOT NULL AND ends_at < ?",
        (cutoff, cutoff),
    )
