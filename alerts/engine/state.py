"""The alert engine's durable state in the alerts database (alerts/db.py).

Three tables: `engine_alerts` (Alertmanager's alert store, plus the detector that
reported each alert), `engine_groups` (each aggregation group's next flush and whether it
flushed once) and `engine_nflog` (Alertmanager's notification log: per group and
receiver, when it was last notified and the fingerprints then firing and resolved).
Silences are `silences.Silences` on the same connection. Every write the engine makes
happens inside `transaction()`, so a restart finds either all of a step or none of it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from alerts.engine import history
from alerts.engine.silences import Silences
from alerts.model import Alert

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS engine_alerts (
        fingerprint TEXT PRIMARY KEY, labels TEXT NOT NULL, annotations TEXT NOT NULL,
        starts_at REAL NOT NULL, ends_at REAL, generator_url TEXT NOT NULL,
        source TEXT NOT NULL, last_seen REAL NOT NULL, group_key TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS engine_alerts_group ON engine_alerts (group_key)",
    """CREATE TABLE IF NOT EXISTS engine_groups (
        group_key TEXT PRIMARY KEY, labels TEXT NOT NULL,
        next_flush_at REAL NOT NULL, has_flushed INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS engine_nflog (
        group_key TEXT NOT NULL, receiver TEXT NOT NULL, notified_at REAL NOT NULL,
        firing TEXT NOT NULL, resolved TEXT NOT NULL, PRIMARY KEY (group_key, receiver))""",
)


@dataclass(frozen=True)
class StoredAlert:
    """An alert as the engine keeps it: which detector reported it, when last, its group."""

    alert: Alert
    source: str
    last_seen: float
    group_key: str


@dataclass(frozen=True)
class Group:
    """An aggregation group's timer state."""

    key: str
    labels: dict[str, str]
    next_flush_at: float
    has_flushed: bool


@dataclass(frozen=True)
class NflogEntry:
    """The last notification of a group to a receiver (Alertmanager's nflogpb.Entry)."""

    notified_at: float
    firing: frozenset[str]
    resolved: frozenset[str]


class EngineState:
    """The engine's tables on one connection of alerts/db.py (autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in SCHEMA:
            conn.execute(statement)
        history.create(conn)
        self.silences = Silences(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): the write lock is taken first,
        so a locked database fails here, before anything was done or delivered."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---- alerts
    def alert(self, fp: str) -> StoredAlert | None:
        """The stored alert with this fingerprint, if any."""
        row = self.conn.execute(_SELECT_ALERTS + " WHERE fingerprint = ?", (fp,)).fetchone()
        return _stored(row) if row else None

    def alerts(self, where: str = "", args: tuple = ()) -> list[StoredAlert]:
        """Stored alerts (optionally filtered by an SQL condition), by fingerprint."""
        sql = _SELECT_ALERTS + (f" WHERE {where}" if where else "") + " ORDER BY fingerprint"
        return [_stored(r) for r in self.conn.execute(sql, args)]

    def put_alert(self, s: StoredAlert) -> None:
        """Insert or replace an alert."""
        a = s.alert
        self.conn.execute(
            "INSERT OR REPLACE INTO engine_alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.fingerprint,
                _dump(a.labels),
                _dump(a.annotations),
                a.starts_at,
                a.ends_at,
                a.generator_url,
                s.source,
                s.last_seen,
                s.group_key,
            ),
        )
        history.put(self.conn, s)  # kept after the alert resolves (the dashboard reads it)

    def delete_alerts(self, fps: list[str]) -> None:
        """Drop alerts (resolved ones, once their group was flushed)."""
        self.conn.executemany(
            "DELETE FROM engine_alerts WHERE fingerprint = ?", [(fp,) for fp in fps]
        )

    # ---- groups
    def group(self, key: str) -> Group | None:
        """The group with this key, if any."""
        row = self.conn.execute(_SELECT_GROUPS + " WHERE group_key = ?", (key,)).fetchone()
        return _group(row) if row else None

    def groups(self) -> list[Group]:
        """All groups, soonest flush first."""
        return [_group(r) for r in self.conn.execute(_SELECT_GROUPS + " ORDER BY next_flush_at")]

    def put_group(self, g: Group) -> None:
        """Insert or replace a group's timer state."""
        self.conn.execute(
            "INSERT OR REPLACE INTO engine_groups VALUES (?, ?, ?, ?)",
            (g.key, _dump(g.labels), g.next_flush_at, int(g.has_flushed)),
        )

    def delete_group(self, key: str) -> None:
        """Drop an empty group and its notification log."""
        self.conn.execute("DELETE FROM engine_groups WHERE group_key = ?", (key,))
        self.conn.execute("DELETE FROM engine_nflog WHERE group_key = ?", (key,))

    # ---- notification log
    def nflog(self, key: str, receiver: str) -> NflogEntry | None:
        """The last notification of the group to the receiver, if any."""
        row = self.conn.execute(
            "SELECT notified_at, firing, resolved FROM engine_nflog "
            "WHERE group_key = ? AND receiver = ?",
            (key, receiver),
        ).fetchone()
        if row is None:
            return None
        return NflogEntry(row[0], frozenset(json.loads(row[1])), frozenset(json.loads(row[2])))

    def put_nflog(self, key: str, receiver: str, entry: NflogEntry) -> None:
        """Record a notification of the group to the receiver."""
        self.conn.execute(
            "INSERT OR REPLACE INTO engine_nflog VALUES (?, ?, ?, ?, ?)",
            (
                key,
                receiver,
                entry.notified_at,
                json.dumps(sorted(entry.firing)),
                json.dumps(sorted(entry.resolved)),
            ),
        )


_SELECT_ALERTS = (
    "SELECT labels, annotations, starts_at, ends_at, generator_url, source, last_seen, "
    "group_key FROM engine_alerts"
)
_SELECT_GROUPS = "SELECT group_key, labels, next_flush_at, has_flushed FROM engine_groups"


def _dump(mapping) -> str:
    return json.dumps(dict(mapping), sort_keys=True)


def _stored(row: tuple) -> StoredAlert:
    labels, annotations, start, end, url, source, seen, key = row
    alert = Alert(json.loads(labels), json.loads(annotations), start, end, url)
    return StoredAlert(alert, source, seen, key)


def _group(row: tuple) -> Group:
    return Group(row[0], json.loads(row[1]), row[2], bool(row[3]))
