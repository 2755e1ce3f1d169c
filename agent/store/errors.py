"""A bounded label for a failed write of the store, for the write-error counter."""

from __future__ import annotations

import errno
import sqlite3

_SQLITE_KINDS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_READONLY": "readonly",
    "SQLITE_CANTOPEN": "io",
}


def error_kind(err: sqlite3.Error | OSError) -> str:
    """locked, disk_full, io, readonly or other: from SQLite's error name (or an OSError's
    errno, for the files beside the database)."""
    if isinstance(err, OSError):
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        return "disk_full" if full else "readonly" if err.errno == errno.EROFS else "io"
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "locked"
    return _SQLITE_KINDS.get(name, "io" if name.startswith("SQLITE_IOERR") else "other")
