"""Work handed to the event loop a slice per turn: off the request path, in bounded stalls."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerTurn(Generic[T]):
    """Queues items and hands them to `handle` at most `per_turn` at a time, one slice per
    event-loop turn (`call_soon`), so that a burst (a cost tick's release, a backlog of
    off-path checks) never stalls the requests in flight for long. Items keep their order.
    Off a running loop, `add` hands everything on at once.

    With `spread_s`, slices are paced instead: each `add` sets the pace so that everything
    queued then is handed on evenly over the next `spread_s` (slices at least `min_gap_s`
    apart, made larger than `per_turn` when that gap cannot carry the queue). A burst
    handed on in slices on consecutive turns, or even a millisecond apart, still loads a
    stretch of the loop and of whatever the handler feeds several times over the steady
    rate; spread over the interval between bursts, it costs each request a little and no
    request a lot."""

    def __init__(
        self,
        handle: Callable[[list[T]], None],
        per_turn: int,
        spread_s: float = 0.0,
        min_gap_s: float = 0.001,
    ) -> None:
        self._handle, self._per_turn = handle, per_turn
        self._spread_s, self._min_gap_s = spread_s, min_gap_s
        self._slice, self._gap = per_turn, 0.0  # the pace set by the last `add`
        self._items: deque[T] = deque()
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None  # the next paced slice
        self._last = 0.0  # loop time of the last paced slice

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[T]) -> None:
        """Queue items; the next loop turn starts handing them on."""
        self._items.extend(items)
        if self._spread_s and self._items:
            self._pace()
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop turns to wait for (a test, a thread)
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self._next)

    def _pace(self) -> None:
        n = len(self._items)
        self._slice = max(self._per_turn, math.ceil(n * self._min_gap_s / self._spread_s))
        self._gap = self._spread_s * self._slice / n
        timer = self._timer
        if timer is not None and not timer.cancelled() and timer.when() > self._last + self._gap:
            # Waiting out the old, slower pace (a few records, then a tick's thousands) would
            # start this batch late, into the next one's time: the next slice comes sooner.
            timer.cancel()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(max(loop.time(), self._last + self._gap), self._next)

    def flush(self) -> None:
        """Hand on everything queued, now (at a stop)."""
        while self._items:  # `handle` may queue more
            self._handle(self._pop(len(self._items)))

    def _next(self) -> None:
        self._scheduled, self._timer = False, None
        batch = self._pop(self._slice)
        if self._items:  # scheduled first: a failing `handle` leaves the rest on their way
            self._scheduled = True
            loop = asyncio.get_running_loop()
            if self._gap:
                self._last = loop.time()
                self._timer = loop.call_later(self._gap, self._next)
            else:
                loop.call_soon(self._next)
        if batch:
            self._handle(batch)

    def _pop(self, n: int) -> list[T]:
        items = self._items
        return [items.popleft() for _ in range(min(n, len(items)))]
