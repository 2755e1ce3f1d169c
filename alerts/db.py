"""The alerts database: one SQLite file in the data folder (`alerts.db`), WAL mode.

The alert engine's state, silences, drift snapshots and the webhook outbox live here,
apart from the request log, so the detectors never contend with the store's writer.
Modules create their own tables (`CREATE TABLE IF NOT EXISTS`) on the connection they
are given. The connection is in autocommit mode: a module that must write atomically
wraps its statements in `BEGIN IMMEDIATE ... COMMIT` itself, and a module called inside
another's transaction (the outbox's `put`, called by the engine) never begins or commits.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

FILENAME = "alerts.db"


def connect(path: str | Path, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """Open (or create, mode 0600) the alerts database at `path`."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: an alert state or an outbox row acknowledged must survive a power cut too.
    conn.execute("PRAGMA synchronous=FULL")
    return conn
