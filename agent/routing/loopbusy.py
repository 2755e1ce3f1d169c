"""How busy the agent's event loop is: the share of the last window its thread spent on
the CPU. Shadow copies are shed while it is over `shadow.max_loop_busy`, so that when the
agent itself is the bottleneck, the copies (which double its relaying and recording) give
way to the clients' requests instead of queueing them.

`time.thread_time()` is the loop thread's own CPU time (the store's writer, the safety
scanner and the collectors run on threads of their own and are not counted), read by a
task on the loop every `WINDOW_S`: about a microsecond per read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

WINDOW_S = 0.1


class LoopBusy:
    """`ratio`: the loop thread's CPU seconds over wall seconds, the lower of the last two
    windows (0..1): a load held 0.2 s, not one burst (the agent's own start, a scrape)."""

    def __init__(
        self,
        cpu: Callable[[], float] = time.thread_time,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cpu, self._wall = cpu, wall
        self.ratio = 0.0
        self._last = 0.0  # the previous window's share
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start sampling (on the loop whose thread is measured)."""
        self._task = asyncio.create_task(self._run(), name="loop-busy")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        cpu, wall = self._cpu(), self._wall()
        while True:
            await asyncio.sleep(WINDOW_S)
            now, cpu, wall = self.sample(cpu, wall)
            self.update(now)

    def update(self, window: float) -> None:
        """Take one window's share: `ratio` becomes the lower of it and the previous one."""
        self.ratio, self._last = min(window, self._last), window

    def sample(self, cpu_before: float, wall_before: float) -> tuple[float, float, float]:
        """(ratio since the previous sample, cpu now, wall now)."""
        cpu, wall = self._cpu(), self._wall()
        elapsed = wall - wall_before
        ratio = (cpu - cpu_before) / elapsed if elapsed > 0 else 0.0
        return min(1.0, max(0.0, ratio)), cpu, wall
