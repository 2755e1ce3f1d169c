"""Saved references of drift: a record frame kept under a name in the alerts database.

`inferwatch drift snapshot NAME` takes one; the detector and `inferwatch drift
--reference-snapshot NAME` compare against it. Only the columns drift tests are kept
(never the prompt or completion text), as gzip-compressed JSON rows, at most `max_rows`
of them (sampled uniformly), so a snapshot stays a few megabytes at most.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
from dataclasses import dataclass

import orjson
import pandas as pd

from alerts.source import TEXT_COLUMNS, to_frame

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS drift_snapshots (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    rows INTEGER NOT NULL,
    data BLOB NOT NULL
)
"""


class SnapshotError(ValueError):
    """A bad snapshot name, or one that does not exist."""


@dataclass(frozen=True)
class SnapshotInfo:
    """A saved reference: its name, when it was taken, the range it covers, its rows."""

    name: str
    created_at: float
    start: float
    end: float
    rows: int
    size_bytes: int


class Snapshots:
    """Saved references in the alerts database (`alerts.db.connect`)."""

    def __init__(self, conn: sqlite3.Connection, max_rows: int = 50_000) -> None:
        self._conn, self.max_rows = conn, max_rows
        conn.execute(_SCHEMA)

    def save(self, name: str, frame: pd.DataFrame, start: float, end: float, now: float):
        """Keep `frame` (records of [start, end)) as `name`, replacing one of that name."""
        check_name(name)
        if len(frame) > self.max_rows:
            frame = frame.sample(n=self.max_rows, random_state=0).sort_values("wall_time")
        kept = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame.columns])
        data = gzip.compress(orjson.dumps(kept.to_dict("records")), 6)
        self._conn.execute(
            "INSERT OR REPLACE INTO drift_snapshots VALUES (?, ?, ?, ?, ?, ?)",
            (name, now, start, end, len(kept), data),
        )
        return SnapshotInfo(name, now, start, end, len(kept), len(data))

    def load(self, name: str) -> pd.DataFrame:
        """The record frame saved as `name`; SnapshotError when there is none."""
        row = self._conn.execute(
            "SELECT data FROM drift_snapshots WHERE name = ?", (check_name(name),)
        ).fetchone()
        if row is None:
            known = ", ".join(i.name for i in self.list()) or "none saved"
            raise SnapshotError(f"no drift snapshot named {name!r} (known: {known})")
        return to_frame(orjson.loads(gzip.decompress(row[0])))

    def list(self) -> list[SnapshotInfo]:
        """Every saved reference, by name."""
        sql = (
            "SELECT name, created_at, start, end, rows, length(data) "
            "FROM drift_snapshots ORDER BY name"
        )
        return [SnapshotInfo(*r) for r in self._conn.execute(sql)]

    def delete(self, name: str) -> bool:
        """Remove `name`; False when there was none."""
        cur = self._conn.execute("DELETE FROM drift_snapshots WHERE name = ?", (check_name(name),))
        return cur.rowcount > 0


def check_name(name: str) -> str:
    """`name` if it is a valid snapshot name (letters, digits, . _ -; up to 64)."""
    if not _NAME.match(name or ""):
        raise SnapshotError(
            f"bad snapshot name {name!r}: use letters, digits, '.', '_' or '-' (up to 64)"
        )
    return name
