"""The cost stage of the record path: holds each record until its time is metered.

Finished records are handed to the engine on the next loop turn (O(1) on the request
path). The engine releases them once every device has metered the request's time, with
its cost written in; a tick releases thousands at once, so a task hands them on in slices
spread over most of the interval until the next tick. `restart()` swaps in a fresh engine
mid-load without losing any request's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine, Released
from agent.cost.metrics import CostMetrics
from agent.record import COST_UNMETERED, RequestRecord
from agent.recordpath import InFlight, Stage

log = logging.getLogger("inferwatch.cost")

SLICE = 16  # released records handed on per loop turn when not spread (~0.3 ms of work)
MIN_GAP_S = 0.001  # paced slices come at least this far apart (larger slices if needed)


class CostStage(Stage):
    """Owns the current `CostEngine`; the record path and the collectors talk to it."""

    name = "cost"

    def __init__(
        self,
        config: CostConfig,
        metrics: CostMetrics | None,
        budgets: Budgets,
        clock: Callable[[], int] = time.monotonic_ns,
        spread_s: float = 0.0,
    ) -> None:
        """`spread_s`: a tick's release is handed on evenly over this long (0: a slice
        per loop turn). Spread over the interval between ticks, the load is even: at once,
        a release of thousands stalled every request in flight for tens of ms (60% of the
        slowest 1% came in the 200 ms after a tick: bench/NOTES.md)."""
        super().__init__()
        self.config, self.budgets = config, budgets
        self._metrics, self._clock, self._spread_s = metrics, clock, spread_s
        self.engine = self._new_engine()
        self._finished: list[RequestRecord] = []
        self._elsewhere: set[str] = set()  # in flight to an upstream not metered here
        self._drain_scheduled = False
        self._releasing: deque[Released] = deque()  # released, waiting for their slice
        self._arrived = asyncio.Event()
        self._due = 0.0  # loop time by which everything in `_releasing` is handed on
        self._tasks: list[asyncio.Task] = []
        self._restart_due = False
        self._stopped = False  # after `stop`: no tick comes, records leave at once
        self.restarts = 0

    def _new_engine(self) -> CostEngine:
        return CostEngine(
            self.config, self.emit_costed, self._metrics, self._clock, release=self._released
        )

    def emit_costed(self, record: RequestRecord) -> None:
        """Where the engine's costed records go: the next stage."""
        self.emit(record)

    # ---- the record path ----------------------------------------------------------------

    def begin(self, request: InFlight) -> None:
        """Track a request in flight: it shares every interval until it ends."""
        r = request
        if not r.metered:  # served on hardware not metered here: no share, no cost
            self._elsewhere.add(r.request_id)
            return
        self.engine.begin(r.request_id, r.start_ns, r.tenant, r.model, r.stream)

    def process(self, record: RequestRecord) -> None:
        """Hold a finished record: the engine takes it on the next loop turn (one whose
        upstream is not metered here goes on at once, uncosted)."""
        if self._elsewhere and record.request_id in self._elsewhere:
            self._elsewhere.discard(record.request_id)
            # No meter saw its time: unmetered, with no amount (not 0: nothing is known).
            self.emit(dataclasses.replace(record, cost_status=COST_UNMETERED))
            return
        self._finished.append(record)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self.drain)

    def drain(self) -> None:
        """Hand the finished records queued so far to the engine."""
        self._drain_scheduled = False
        batch, self._finished = self._finished, []
        if batch:
            self.engine.finish_many(batch)
        if self._stopped and batch:  # no more ticks will come: release with costs so far
            self.engine.flush()

    def on_intervals(self, intervals) -> None:
        """Collector registry subscriber: metered intervals settle ticks and release."""
        self.drain()
        self.engine.on_intervals(intervals)
        if self._restart_due:
            self.restart()

    # ---- releasing, paced -----------------------------------------------------------------

    def _released(self, released: list[Released]) -> None:
        if not self._tasks:  # not started, or stopped: no task to pace them
            self.engine.hand_on_now(released)
            return
        self._releasing.extend(released)
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self._spread_s  # the newest release sets the pace
        self._arrived.set()

    async def _pace(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._releasing:
                self._arrived.clear()
                await self._arrived.wait()
            n = len(self._releasing)
            left = self._due - loop.time()
            if self._spread_s and left > 0:
                size = max(1, math.ceil(n * MIN_GAP_S / left))
                gap = left * size / n
            else:
                size, gap = SLICE, 0.0
            batch = [self._releasing.popleft() for _ in range(min(size, n))]
            try:  # the current engine: the same config after a restart
                self.engine.hand_on_now(batch)
            except Exception:
                log.exception("cost release failed; its records go on uncosted")
                for req in batch:
                    if req.record is not None:
                        self.emit(req.record)
            await asyncio.sleep(gap)

    # ---- engine restarts ------------------------------------------------------------------

    def request_restart(self) -> None:
        """Restart the engine right after the next tick, when every finished request's
        time is metered, so its record leaves with its whole cost."""
        self._restart_due = True

    def restart(self) -> None:
        """Replace the engine now by a fresh one, carrying running requests and totals over."""
        self._restart_due = False
        self.drain()
        self.engine.flush()
        state = json.loads(json.dumps(self.engine.snapshot()))  # what a file would hold
        self.engine = self._new_engine()
        self.engine.restore(state)
        self.restarts += 1

    # ---- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load today's budget spend; start the pacing and housekeeping tasks."""
        self._load_state()
        self._stopped = False
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._pace(), name="cost-release"),
            loop.create_task(self._housekeep(), name="cost-housekeeping"),
        ]

    async def stop(self) -> None:
        """Release every held record with its cost so far, and save today's spend."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._stopped = True
        self.drain()
        waiting, self._releasing = list(self._releasing), deque()
        self.engine.hand_on_now(waiting)  # released earlier: before what the flush releases
        self.engine.flush()  # no task now: released at once
        self._save_state()

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_s)
            try:
                self.drain()
                self.engine.housekeep()
            except Exception:  # never let a bug here stop records from leaving
                log.exception("cost housekeeping failed")

    def _save_state(self) -> None:
        if not self.config.state_path:
            return
        state = {"engine": self.engine.snapshot(), "budgets": self.budgets.state()}
        path = Path(self.config.state_path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)  # atomic: a crash never leaves half a file

    def _load_state(self) -> None:
        path = self.config.state_path
        if not path or not Path(path).is_file():
            return
        with contextlib.suppress(ValueError, KeyError, OSError):
            # Only today's budget spend outlives the process: its requests in flight did not.
            self.budgets.restore(json.loads(Path(path).read_text())["budgets"])
