"""The early-write journal: records the cost engine still holds, kept on disk until their
final row is in the database.

With the cost engine on, a record is written the moment its request ends, so that a crash
while the engine holds it (seconds) loses nothing. That write used to be a pending row,
made final by an UPDATE when the cost came: two row writes, two serialisations and four
index changes per request, ~0.1 ms of CPU per request (bench/proxy_ablation.py). Now it is
a line appended to a journal segment (one `write` per batch) and the costed record is one
INSERT. Records are keyed by their span id, which the agent makes for every request.

The store's writer thread owns it; nothing here is thread-safe.
- `recover()` at start: the records of segments left by an earlier run (deduplicated;
  a line cut off by a crash is skipped). The caller inserts those without a row as
  cost-lost, then calls `clear()`.
- `append(records)` before the batch's transaction; `done(records)` once their final rows
  are committed. A segment is deleted once it is not the current one and every record in
  it is done.
- `older_than(wall)`: records still open that ended before `wall` (their cost never came).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from agent.gil import in_slices
from agent.record import RequestRecord
from agent.store.rejects import clean
from agent.store.rows import from_json

log = logging.getLogger("inferwatch.store")

_PREFIX, _SUFFIX = "pending-", ".jsonl"
_ROTATE_S = 10.0  # a new segment this often: an old one goes once all its records are done


def _number(path: Path) -> int:
    try:
        return int(path.name[len(_PREFIX) : -len(_SUFFIX)])
    except ValueError:
        return -1


def _line(record: RequestRecord) -> bytes:
    """One journal line; a record orjson refuses (a lone surrogate in a string, an int past
    64 bits) is written with those values made safe (see `rejects.clean`), so the journal
    and its recovery go on. Its final version meets the same values and is refused into the
    store's rejects table; this line only matters if the agent dies before that."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as err:
        log.warning(
            "store journal: record not encodable as it is; its values made safe",
            extra={"error": clean(str(err))},
        )
        return orjson.dumps(clean(record), option=orjson.OPT_APPEND_NEWLINE)


@dataclass(slots=True)
class _Segment:
    path: Path
    opened: float  # time.monotonic()
    open: set[str] = field(default_factory=set)  # span ids not yet done


class Journal:
    """Append-only segments `pending-NNNNNNNN.jsonl` in the store's folder."""

    def __init__(self, folder: Path, fsync: bool = False, rotate_s: float = _ROTATE_S) -> None:
        self._dir, self._fsync, self._rotate_s = folder, fsync, rotate_s
        self._segments: dict[int, _Segment] = {}
        self._current = -1
        self._fd: int | None = None
        self._open: dict[str, tuple[int, RequestRecord]] = {}  # span id -> (segment, record)

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, span_id: str) -> bool:
        return span_id in self._open

    # ---- start and stop ---------------------------------------------------------------

    def files(self) -> list[Path]:
        """Segment files in the folder, oldest first."""
        return sorted(self._dir.glob(f"{_PREFIX}*{_SUFFIX}"))

    def recover(self) -> list[RequestRecord]:
        """Records of the segments an earlier run left behind, each once, oldest first."""
        found: dict[str, RequestRecord] = {}
        for path in self.files():
            for line in path.read_bytes().splitlines():
                try:
                    record = from_json(line)
                    found.setdefault(record.span_id, record)
                except (orjson.JSONDecodeError, TypeError, ValueError):
                    continue  # the last line of a segment cut off by a crash, or unreadable
        return list(found.values())

    def clear(self) -> None:
        """Delete every segment file (after `recover`'s records are in the database)."""
        for path in self.files():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the current segment; its file stays only while records in it are open."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        seg = self._segments.get(self._current)
        if seg is not None and not seg.open:
            self._drop(self._current)

    # ---- the writer thread's batches ----------------------------------------------------

    def append(self, records: list[RequestRecord], paced: bool = False) -> None:
        """Write records to the current segment (with `paced`, pausing for the GIL between
        slices, see `agent.gil`). Raises OSError (nothing is noted then)."""
        if not records:
            return
        self._maybe_rotate()
        try:
            data = b"".join(
                orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE)
                for r in (in_slices(records) if paced else records)
            )
        except TypeError:  # a value orjson refuses: that record's line is made safe
            data = b"".join(_line(r) for r in records)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]  # type: ignore[arg-type]
        if self._fsync:
            os.fsync(self._fd)  # type: ignore[arg-type]
        seg = self._segments[self._current]
        for r in records:
            if r.span_id not in self._open:  # a batch retried after a failed commit
                self._open[r.span_id] = (self._current, r)
                seg.open.add(r.span_id)

    def done(self, records: list[RequestRecord]) -> None:
        """Their final rows are committed: forget them, delete segments left with none."""
        emptied = set()
        for r in records:
            entry = self._open.pop(r.span_id, None)
            if entry is not None:
                seg = self._segments[entry[0]]
                seg.open.discard(r.span_id)
                if not seg.open:
                    emptied.add(entry[0])
        for n in emptied:
            if n != self._current:
                self._drop(n)

    def older_than(self, wall: float) -> list[RequestRecord]:
        """Records still open whose request ended before `wall` (epoch seconds)."""
        return [r for _, r in self._open.values() if r.wall_time + r.duration_s < wall]

    # ---- segments -----------------------------------------------------------------------

    def _maybe_rotate(self) -> None:
        now = time.monotonic()
        seg = self._segments.get(self._current)
        if seg is not None and now - seg.opened < self._rotate_s:
            return
        self.close()  # drops the segment when nothing in it is open
        if self._current < 0:  # after any left behind (a start that could not recover them)
            self._current = max((_number(p) for p in self.files()), default=-1)
        self._current += 1
        path = self._dir / f"{_PREFIX}{self._current:08d}{_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segments[self._current] = _Segment(path, now)

    def _drop(self, n: int) -> None:
        seg = self._segments.pop(n)
        try:
            seg.path.unlink(missing_ok=True)
        except OSError as err:  # left behind: recovered (and found in the database) at start
            log.warning(
                "store journal segment not deleted",
                extra={"path": str(seg.path), "error": str(err)},
            )
