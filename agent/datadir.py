"""The data folder belongs to one agent at a time: an exclusive lock held for the agent's life.

Two agents on one folder would take each other's held records for a crash's leftovers and
delete them (issue 15). The lock is `flock` on `<dir>/.lock`, taken before anything else
starts (vLLM included); the kernel drops it when the process ends, however it ends, so a
crash never leaves a stale lock. The file holds the owner's pid, for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_NAME = ".lock"


class DataDirBusy(RuntimeError):
    """Another process holds the data folder's lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        owner = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"data folder {path} is in use by another inferwatch agent ({owner}); "
            "stop it, or give this one its own folder with --data-dir"
        )
        self.path, self.pid = path, pid


class DataDirLock:
    """The held lock on one data folder; `release()` (or process exit) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        """Let the folder go (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = -1

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_data_dir(path: str | Path) -> DataDirLock:
    """Create `path` if needed (mode 0700) and take its lock without waiting.

    Raises `DataDirBusy` (naming the holder's pid) when another process holds it, and
    `OSError` when the folder cannot be created or the lock file opened."""
    folder = Path(path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # os.open's descriptors are not inherited by children (PEP 446): vLLM never holds it.
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise DataDirBusy(folder, pid) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(folder, fd)


def _read_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip())
    return None
