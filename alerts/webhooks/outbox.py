"""The durable outbox: notifications waiting for their receiver, in alerts.db.

The engine `put`s a notification inside its own transaction, so a notification exists
exactly when the alert state that caused it was committed. The sender takes `due`
entries and records each outcome in one statement (autocommit: a short transaction).
A row goes pending -> sent, or pending -> dead (a dead letter, kept with its reason).
Delivery is at-least-once: the one window for a duplicate is a crash after a receiver
answered 2xx and before `mark_sent` committed; the `Idempotency-Key` header (the
notification id) lets a receiver drop that duplicate. Once `mark_sent` committed, the
entry is never sent again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerts.model import Notification
from alerts.webhooks import codec

PENDING, SENT, DEAD = "pending", "sent", "dead"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL UNIQUE,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    notification TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS webhook_outbox_queue
    ON webhook_outbox (state, receiver, group_key, id);
"""
_COLUMNS = "id, notification, attempts, created_at, next_attempt_at, last_error"
# The oldest pending entry of each (receiver, group) only: a later notification of a
# group never overtakes an earlier one that is waiting for a retry.
_DUE = f"""
SELECT {_COLUMNS} FROM webhook_outbox AS o
WHERE state = 'pending' AND next_attempt_at <= ? AND id = (
    SELECT MIN(id) FROM webhook_outbox
    WHERE state = 'pending' AND receiver = o.receiver AND group_key = o.group_key)
ORDER BY id LIMIT ?
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One pending notification and its delivery history."""

    id: int
    notification: Notification
    attempts: int
    created_at: float
    next_attempt_at: float
    last_error: str

    @property
    def receiver(self) -> str:
        """The receiver's name."""
        return self.notification.receiver


class Outbox:
    """The outbox table on a connection of alerts/db.py (created on first use)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    def put(self, n: Notification) -> None:
        """Queue `n` for its receiver, due at once. One INSERT: never begins or commits, so
        it is part of the caller's transaction. A second put of the same id is a no-op."""
        self.conn.execute(
            "INSERT INTO webhook_outbox (notification_id, receiver, group_key, notification,"
            " created_at, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (notification_id) DO NOTHING",
            (
                n.id,
                n.receiver,
                n.group_key,
                codec.dumps(n),
                n.created_at,
                n.created_at,
                n.created_at,
            ),
        )

    def due(self, now: float, limit: int = 100) -> list[Entry]:
        """Pending entries whose next attempt is due at `now`, oldest first, at most one per
        (receiver, group)."""
        rows = self.conn.execute(_DUE, (now, limit)).fetchall()
        return [Entry(r[0], codec.loads(r[1]), *r[2:]) for r in rows]

    def mark_sent(self, entry_id: int, now: float) -> None:
        """The receiver acknowledged the entry: it is never delivered again."""
        self._finish(entry_id, SENT, now, "")

    def mark_failed(self, entry_id: int, now: float, error: str, next_attempt_at: float) -> None:
        """An attempt failed and will be retried at `next_attempt_at`."""
        self.conn.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?,"
            " next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
            (error, next_attempt_at, now, entry_id),
        )

    def give_up(self, entry_id: int, now: float, reason: str) -> None:
        """Keep the entry as a dead letter with `reason`; it is not delivered again."""
        self._finish(entry_id, DEAD, now, reason)

    def _finish(self, entry_id: int, state: str, now: float, error: str) -> None:
        self.conn.execute(
            "UPDATE webhook_outbox SET state = ?, attempts = attempts + 1, updated_at = ?,"
            " last_error = CASE WHEN ? = '' THEN last_error ELSE ? END"
            " WHERE id = ? AND state = 'pending'",
            (state, now, error, error, entry_id),
        )

    def pending_by_receiver(self) -> dict[str, int]:
        """Number of pending entries per receiver name."""
        rows = self.conn.execute(
            "SELECT receiver, COUNT(*) FROM webhook_outbox WHERE state = 'pending' GROUP BY 1"
        )
        return dict(rows.fetchall())

    def dead_letters(self) -> list[tuple[int, str, str]]:
        """(id, receiver, reason) of every dead letter, oldest first."""
        rows = self.conn.execute(
            "SELECT id, receiver, last_error FROM webhook_outbox WHERE state = 'dead' ORDER BY id"
        )
        return rows.fetchall()

    def prune(self, before: float) -> int:
        """Delete sent entries and dead letters last updated before `before`; returns how many."""
        cur = self.conn.execute(
            "DELETE FROM webhook_outbox WHERE state != 'pending' AND updated_at < ?", (before,)
        )
        return cur.rowcount
