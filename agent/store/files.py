"""The store's folder and files are private: the folder 0700, every file in it 0600.

The request log holds tenants, models and (with capture on) redacted prompts; no other
local user should read it. SQLite creates the `-wal` and `-shm` files with the mode of
the database file, so making the database file 0600 before SQLite first opens it makes
those private too. A folder or file found with a looser mode is tightened, with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("inferwatch.store")

DIR_MODE, FILE_MODE = 0o700, 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def private_dir(path: Path) -> None:
    """Create `path` (and parents) as 0700, or tighten it to 0700 if it is looser."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)


def private_database(path: Path) -> None:
    """Create the database file 0600 if missing (before SQLite does, with the umask's
    mode), and tighten it and any `-wal`/`-shm` left beside it."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for suffix in SQLITE_SUFFIXES:
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            _tighten(sibling, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    found = stat.S_IMODE(path.stat().st_mode)
    if not found & ~mode:
        return
    try:
        path.chmod(found & mode)
    except OSError as err:  # not ours (e.g. a shared folder): say so, go on
        log.warning(
            "store path is readable by others and could not be tightened",
            extra={"path": str(path), "mode": oct(found), "error": str(err)},
        )
        return
    log.warning(
        "store path was readable by others; tightened",
        extra={"path": str(path), "mode": oct(found), "now": oct(found & mode)},
    )
