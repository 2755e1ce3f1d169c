"""Coarse time limits for the request path, checked by one periodic timer.

`asyncio.timeout` arms and cancels a timer handle on every use: about 7 us on uvloop,
and a JSON request through the proxy needs two (first byte, then the body). Here a limit
is a set entry: entering and leaving cost well under a microsecond, and one callback every
`resolution_s` cancels the tasks whose limit has passed. A limit fires up to `resolution_s`
late, which is nothing next to limits of seconds.

    deadlines = Deadlines()
    with deadlines.limit(5.0):          # inside a task; raises TimeoutError on expiry
        resp = await session.request(...)
"""

from __future__ import annotations

import asyncio


class Deadline:
    """One armed limit; a context manager (plain `with`, around awaits of one task)."""

    __slots__ = ("_owner", "_task", "due", "fired")

    def __init__(self, owner: Deadlines, task: asyncio.Task, due: float) -> None:
        self._owner, self._task, self.due = owner, task, due
        self.fired = False

    def __enter__(self) -> Deadline:
        self._owner._live.add(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._owner._live.discard(self)
        # Our cancellation surfaced here: turn it into TimeoutError, unless someone else
        # (a client hanging up) cancelled the task too, in which case it stays cancelled.
        if self.fired and exc_type is asyncio.CancelledError and self._task.uncancel() == 0:
            raise TimeoutError from exc

    def _expire(self) -> None:
        self.fired = True
        self._task.cancel()


class Deadlines:
    """The live limits of one event loop and the timer that enforces them."""

    def __init__(self, resolution_s: float = 0.05) -> None:
        self._resolution = resolution_s
        self._live: set[Deadline] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def limit(self, seconds: float) -> Deadline:
        """A limit of `seconds` for the current task, from now (use it in a `with`)."""
        loop = self._loop
        if loop is None:  # first use: bind to the running loop
            loop = self._loop = asyncio.get_running_loop()
        if self._timer is None:  # the timer sleeps while no limit is armed
            self._timer = loop.call_later(self._resolution, self._check)
        task = asyncio.current_task()
        assert task is not None, "Deadlines.limit needs a running task"
        return Deadline(self, task, loop.time() + seconds)

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for d in [d for d in self._live if d.due <= now and not d.fired]:
            d._expire()
        self._timer = loop.call_later(self._resolution, self._check) if self._live else None

    def close(self) -> None:
        """Stop checking (limits still armed never fire)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None

    def __len__(self) -> int:
        return len(self._live)
