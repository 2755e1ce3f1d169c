"""Work handed to the event loop a slice per turn: off the request path, in bounded stalls."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerTurn(Generic[T]):
    """Queues items and hands them to `handle` at most `per_turn` at a time, one slice per
    event-loop turn (`call_soon`), so that a burst (a cost tick's release, a backlog of
    off-path checks) never stalls the requests in flight for long. Items keep their order.
    Off a running loop, `add` hands everything on at once.

    With `gap_s`, slices are also spaced in time (`call_later`) while fewer than
    `catch_up` items wait: slices on consecutive turns still land on a few requests, each
    delayed by several of them (one per step of its own); spaced, a request meets one at
    most. A backlog of `catch_up` or more goes a slice per turn again, so a rate the gap
    cannot carry never piles up."""

    def __init__(
        self,
        handle: Callable[[list[T]], None],
        per_turn: int,
        gap_s: float = 0.0,
        catch_up: int = 4096,
    ) -> None:
        self._handle, self._per_turn = handle, per_turn
        self._gap_s, self._catch_up = gap_s, catch_up
        self._items: deque[T] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._items)

    def add(self, items: Iterable[T]) -> None:
        """Queue items; the next loop turn starts handing them on."""
        self._items.extend(items)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop turns to wait for (a test, a thread)
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self._next)

    def flush(self) -> None:
        """Hand on everything queued, now (at a stop)."""
        while self._items:  # `handle` may queue more
            self._handle(self._pop(len(self._items)))

    def _next(self) -> None:
        self._scheduled = False
        batch = self._pop(self._per_turn)
        if self._items:  # scheduled first: a failing `handle` leaves the rest on their way
            self._scheduled = True
            loop = asyncio.get_running_loop()
            if self._gap_s and len(self._items) < self._catch_up:
                loop.call_later(self._gap_s, self._next)
            else:
                loop.call_soon(self._next)
        if batch:
            self._handle(batch)

    def _pop(self, n: int) -> list[T]:
        items = self._items
        return [items.popleft() for _ in range(min(n, len(items)))]
