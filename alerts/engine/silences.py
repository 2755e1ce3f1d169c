"""Silences: matchers and a time range during which matching alerts are not notified.

Kept in the alerts database (table `silences`). Validation as Alertmanager's
silence/silence.go validateSilence: at least one matcher, and at least one that does
not match the empty string (a silence of `foo=""` or `foo=~".*"` alone would mute every
alert); the end not before the start. A silence is active while starts_at <= now <
ends_at; expiring one sets its end to now (Alertmanager keeps expired silences too).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass

from alerts.engine.matchers import Matcher, MatcherError, parse_matchers

SCHEMA = """
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL
)
"""


class SilenceError(ValueError):
    """A silence refused (bad or empty matchers, bad times) or an unknown id."""


@dataclass(frozen=True)
class Silence:
    """One silence; `matchers` are Alertmanager matcher strings."""

    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def parsed(self) -> list[Matcher]:
        """The matchers, parsed."""
        return parse_matchers(list(self.matchers))

    def active(self, now: float) -> bool:
        """Whether the silence mutes alerts at `now`."""
        return self.starts_at <= now < self.ends_at

    def state(self, now: float) -> str:
        """Alertmanager's silence states: pending, active or expired."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"


def validate(matchers: list[str], starts_at: float, ends_at: float) -> list[Matcher]:
    """Parse and check a silence's matchers and times; `SilenceError` says what is wrong."""
    try:
        parsed = parse_matchers(matchers)
    except MatcherError as err:
        raise SilenceError(str(err)) from None
    if not parsed:
        raise SilenceError("a silence needs at least one matcher")
    if all(m.matches({}) for m in parsed):
        raise SilenceError(
            "at least one matcher must not match the empty string (these would silence every alert)"
        )
    if ends_at < starts_at:
        raise SilenceError("the end of a silence must not be before its start")
    return parsed


class Silences:
    """The silences table on one alerts-database connection (autocommit statements)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        conn.execute(SCHEMA)

    def add(
        self,
        matchers: list[str],
        starts_at: float,
        ends_at: float,
        created_by: str = "",
        comment: str = "",
    ) -> Silence:
        """Validate and store a new silence; returns it with its new id."""
        parsed = validate(matchers, starts_at, ends_at)
        s = Silence(
            uuid.uuid4().hex, tuple(str(m) for m in parsed), starts_at, ends_at, created_by, comment
        )
        self._conn.execute(
            "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?)",
            (s.id, json.dumps(s.matchers), s.starts_at, s.ends_at, s.created_by, s.comment),
        )
        return s

    def get(self, silence_id: str) -> Silence:
        """The silence with this id; `SilenceError` when there is none."""
        row = self._conn.execute("SELECT * FROM silences WHERE id = ?", (silence_id,)).fetchone()
        if row is None:
            raise SilenceError(f"no silence with id {silence_id!r}")
        return _silence(row)

    def list(self, now: float, expired: bool = False) -> list[Silence]:
        """Silences not yet expired at `now` (pending and active), or also the expired."""
        rows = self._conn.execute("SELECT * FROM silences ORDER BY starts_at, id").fetchall()
        found = [_silence(r) for r in rows]
        return found if expired else [s for s in found if s.ends_at > now]

    def expire(self, silence_id: str, now: float) -> Silence:
        """End a silence at `now` (a pending one ends before it starts); `SilenceError`
        when unknown or already expired."""
        s = self.get(silence_id)
        if s.ends_at <= now:
            raise SilenceError(f"silence {silence_id} already expired")
        start = min(s.starts_at, now)
        self._conn.execute(
            "UPDATE silences SET starts_at = ?, ends_at = ? WHERE id = ?", (start, now, s.id)
        )
        return self.get(s.id)


def _silence(row: tuple) -> Silence:
    sid, matchers, start, end, by, comment = row
    return Silence(sid, tuple(json.loads(matchers)), start, end, by, comment)
