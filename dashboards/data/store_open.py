"""Opening the agent's store for reading, with a message a person can act on for every
way it can fail (`api.DataUnavailable`)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from agent.store import schema
from dashboards.data import api


def open_store(path: Path, busy_timeout_ms: int = 2000) -> tuple[sqlite3.Connection, int]:
    """A read-only connection (`mode=ro`: never creates or writes the file) and the store's
    schema version. Raises `api.DataUnavailable` when there is no file, when it is not a
    store, when its schema is newer than this inferwatch's, or when it stays locked past
    `busy_timeout_ms`."""
    if not path.is_file():
        raise api.DataUnavailable(
            f"no store at {path}: is --data-dir right? the agent creates it on first start"
        )
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        version = _version(conn, path, busy_timeout_ms)
    except BaseException:
        conn.close()
        raise
    return conn, version


def _version(conn: sqlite3.Connection, path: Path, busy_timeout_ms: int) -> int:
    """The schema version, after checking the file is a store this version can read."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests'"
            ).fetchone()
            break
        except sqlite3.OperationalError as err:
            # busy_timeout covers most waits; a reader can still meet a busy WAL recovery.
            if _busy(err) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise _unavailable(path, err) from err
        except sqlite3.DatabaseError as err:
            raise _unavailable(path, err) from err
    if version > schema.VERSION:
        raise api.DataUnavailable(
            f"the store at {path} was written by a newer inferwatch (schema v{version}; "
            f"this dashboard reads up to v{schema.VERSION}): upgrade the dashboard"
        )
    if not has_table:
        raise api.DataUnavailable(f"{path} is an SQLite file but not an inferwatch store")
    return version


def _busy(err: sqlite3.OperationalError) -> bool:
    return "locked" in str(err) or "busy" in str(err)


def _unavailable(path: Path, err: sqlite3.Error) -> api.DataUnavailable:
    if isinstance(err, sqlite3.OperationalError) and _busy(err):
        return api.DataUnavailable(
            f"the store at {path} stayed locked by another process; try again in a moment"
        )
    return api.DataUnavailable(f"{path} is not an inferwatch store (SQLite says: {err})")
