"""The numbers of the requests the engine tracks, as numpy columns indexed by slot.

Each tracked request owns a slot (a row); a tick keeps its members as an array of slots,
so building `attribution.Participants` is fancy indexing and crediting shares is
`cost[slots] += amounts`, with no per-member Python work.

Slots are reused only after a compaction: when none is free, the engine names every slot
it may still read (see `Columns.alloc`) and only the others are freed, and reset, so a
reused slot never carries an earlier request's numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from agent.cost.attribution import RUNNING, Participants

_COLUMNS = {  # name -> (dtype, value of a fresh row)
    "start": (np.int64, 0),
    "first_token": (np.int64, 0),  # used only where `two_phase`
    "end": (np.int64, RUNNING),
    "prefill": (np.float64, 0.0),  # weight x prompt tokens
    "decode": (np.float64, 0.0),  # weight x completion tokens
    "two_phase": (bool, False),
    "known": (bool, False),  # tokens known, else the estimate is charged
    "cost": (np.float64, 0.0),  # accrued shares
    "device_seconds": (np.float64, 0.0),
    "joules": (np.float64, 0.0),
    "unmetered": (bool, False),  # in a tick some meter did not (wholly) cover
    "released": (bool, False),  # its record has left: later shares are late
    "tracked": (bool, False),  # running or recent: may join the next tick
    "key": (np.int64, 0),  # id of its (model, tenant) label values
}


_SCALAR_ROWS = 24  # up to this many finished rows, element stores beat fancy indexing


class Columns:
    """One numpy array per number in `_COLUMNS`, a row per slot."""

    # Set by `_grow` from `_COLUMNS` (declared here for readers and the type checker).
    start: np.ndarray
    first_token: np.ndarray
    end: np.ndarray
    prefill: np.ndarray
    decode: np.ndarray
    two_phase: np.ndarray
    known: np.ndarray
    cost: np.ndarray
    device_seconds: np.ndarray
    joules: np.ndarray
    unmetered: np.ndarray
    released: np.ndarray
    tracked: np.ndarray
    key: np.ndarray

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = 0
        self._free: list[int] = []
        for name, (kind, fresh) in _COLUMNS.items():
            setattr(self, name, np.full(0, fresh, dtype=kind))
        self._grow(max(1, capacity))

    def alloc(self, start: int, key: int, in_use: Callable[[], Iterable[np.ndarray]]) -> int:
        """A fresh, tracked row for a request beginning at `start`.

        `in_use` is asked only when no slot is free: it yields arrays of every slot the
        caller may still read (beyond the tracked ones); all other slots become free."""
        if not self._free:
            self._compact(in_use())
        slot = self._free.pop()
        self.start[slot], self.key[slot], self.tracked[slot] = start, key, True
        return slot

    def _compact(self, in_use: Iterable[np.ndarray]) -> None:
        used = self.tracked.copy()
        for slots in in_use:
            used[slots] = True
        free = np.flatnonzero(~used)
        for name, (_, fresh) in _COLUMNS.items():
            getattr(self, name)[free] = fresh
        if 2 * len(free) < self.capacity:  # keep compactions rare: at most one per cap/2 allocs
            free = np.concatenate((free, np.arange(self.capacity, 2 * self.capacity)))
            self._grow(self.capacity)
        self._free = free[::-1].tolist()  # lowest slots first

    def _grow(self, extra: int) -> None:
        for name, (kind, fresh) in _COLUMNS.items():
            setattr(self, name, np.concatenate((getattr(self, name), np.full(extra, fresh, kind))))
        if not self.capacity:
            self._free = list(range(extra - 1, -1, -1))
        self.capacity += extra

    def finished(self, rows: list[tuple[int, int, bool, float, float]]) -> None:
        """Requests ended: a row (slot, end, known, prefill, decode) each."""
        if len(rows) <= _SCALAR_ROWS:
            # A finish usually comes alone (a drain per loop turn): numpy's fancy indexing
            # costs ~10 us for one row here, scalar stores ~1 us (and half at 16 rows).
            ends, knowns, prefills, decodes = self.end, self.known, self.prefill, self.decode
            for slot, end, known, prefill, decode in rows:
                ends[slot], knowns[slot] = end, known
                prefills[slot], decodes[slot] = prefill, decode
            return
        slot_col, end_col, known_col, prefill_col, decode_col = zip(*rows, strict=True)
        slots = list(slot_col)
        self.end[slots], self.known[slots] = end_col, known_col
        self.prefill[slots], self.decode[slots] = prefill_col, decode_col

    def overlapping(self, a: int, b: int) -> np.ndarray:
        """Slots of the tracked requests whose span overlaps [a, b) (running ones: begun
        before b; a request ending at a still counts, as a tick starting then includes it)."""
        return np.flatnonzero(self.tracked & (self.start < b) & (self.end >= a))

    def participants(self, slots: np.ndarray) -> Participants:
        """The requests in `slots` as the arrays `attribution.share` takes."""
        return Participants(
            self.start[slots],
            self.first_token[slots],
            self.end[slots],
            self.prefill[slots],
            self.decode[slots],
            self.two_phase[slots],
            self.known[slots],
        )
