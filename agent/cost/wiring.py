"""Plugging the cost engine into a running agent: `attach_cost` is the one entry point."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from agent.config import Settings
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine, Released
from agent.cost.metrics import CostMetrics
from agent.perturn import PerTurn
from agent.record import RequestRecord
from agent.tenancy import known_tenants

log = logging.getLogger("inferwatch.cost")

_SLICE = 16  # released records handed on per loop turn when not spread (~0.3 ms of work)
_SPREAD_OF_TICK = 0.75  # default release spread, of the collector interval: done before the next
_SPREAD_MAX_S = 10.0  # ... and at most this: a record reaches the store soon after its cost


class CostService:
    """Owns the current `CostEngine`; the proxy and the collectors talk to this object.

    Finished records are queued and handed to the engine on the next loop iteration, so
    the request path does O(1) work. `restart()` swaps in a fresh engine mid-load without
    losing any request's cost: the old one releases its held records (costs so far, final)
    and passes its running requests' accrued cost and totals on.
    """

    def __init__(
        self,
        config: CostConfig,
        forward: Callable[[RequestRecord], object],
        sink: CostMetrics | None,
        budgets: Budgets,
        clock: Callable[[], int] = time.monotonic_ns,
        spread_s: float = 0.0,
    ) -> None:
        self.config, self.budgets = config, budgets
        self._forward, self._sink, self._clock = forward, sink, clock
        self.engine = self._new_engine()
        self._finished: list[RequestRecord] = []
        self._drain_scheduled = False
        # A tick releases every record it held at once (thousands at a few thousand
        # requests/s, some 10-20 us each to cost, count and forward, then as many store
        # writes). In one go that stalled every request in flight for tens of ms; in slices a
        # millisecond apart it still loaded the next ~150 ms several times over: measured
        # with bench/tail_trace.py at c1, 60% of the slowest 1% of requests came in the
        # 200 ms after a tick. Spread over most of the interval, the load is even.
        # `spread_s` (see `release_spread`): as few at a time as the pace allows (each record
        # is ~20 us of work); without, a slice per loop turn.
        per_turn = 1 if spread_s else _SLICE
        self._out: PerTurn[Released] = PerTurn(self._hand_on_now, per_turn, spread_s)
        self._task: asyncio.Task | None = None
        self._restart_due = False
        self._stopped = False
        self.restarts = 0

    def _new_engine(self) -> CostEngine:
        engine = CostEngine(self.config, self._forward, self._sink, self._clock)
        engine.hand_on = self._hand_on
        return engine

    def _hand_on(self, released: list[Released]) -> None:
        self._out.add(released)
        if self._stopped:  # no loop turns to wait for (the loop may be closing)
            self._out.flush()

    def _hand_on_now(self, released: list[Released]) -> None:
        self.engine.hand_on_now(released)  # the current engine: same config after a restart

    def begin(self, request_id: str, start_ns: int, tenant: str, model: str, stream: bool) -> None:
        """Proxy `on_begin` hook."""
        self.engine.begin(request_id, start_ns, tenant, model, stream)

    def finish(self, record: RequestRecord) -> None:
        """Proxy `finish` hook: O(1) on the request path; the engine runs on the next turn."""
        self._finished.append(record)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            asyncio.get_running_loop().call_soon(self.drain)

    def drain(self) -> None:
        """Hand queued finished records to the engine."""
        self._drain_scheduled = False
        batch, self._finished = self._finished, []
        if batch:
            self.engine.finish_many(batch)
        if self._stopped and batch:  # no more ticks will come: release with costs so far
            self.engine.flush()

    def on_intervals(self, intervals) -> None:
        """Collector registry subscriber."""
        self.drain()
        self.engine.on_intervals(intervals)
        if self._restart_due:
            self.restart()

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

    async def start(self) -> None:
        """Load today's budget spend and start the housekeeping timer."""
        self._load_state()
        self._task = asyncio.get_running_loop().create_task(self._housekeep(), name="cost")

    async def stop(self) -> None:
        """Release every held record with its cost so far, and save today's spend."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._stopped = True
        self.drain()
        self.engine.flush()
        self._out.flush()  # what earlier ticks released, still queued
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


def attach_cost(agent, settings: Settings, collectors=None) -> CostService | None:
    """Wire the cost engine into `agent` (an `agent.app.Agent`, before it serves).

    Replaces `agent.proxy.finish` (forwarding to the previous one) and chains
    `agent.proxy.on_begin`, subscribes to `collectors` (a collector runner with
    `subscribe(callback)`) and adds start/stop hooks. Returns None when cost is disabled.
    """
    cfg = settings.cost
    if not cfg.enabled:
        return None
    tick_s = getattr(getattr(settings, "collectors", None), "interval_s", None)
    if tick_s is not None and cfg.max_hold_s < 2 * tick_s:
        log.warning(
            "cost.max_hold_s (%gs) is under two collector ticks (%gs): records may leave "
            "before the tick covering them, and their last share only reaches the metrics",
            cfg.max_hold_s,
            tick_s,
        )
    budgets = Budgets(cfg.budgets, cfg.currency)
    known = known_tenants(settings.tenants)
    models = getattr(agent, "model_labels", None)
    sink = CostMetrics(agent.instruments, cfg, settings.metrics, budgets, known, models)
    spread = release_spread(cfg, tick_s)
    service = CostService(cfg, agent.proxy.finish, sink, budgets, spread_s=spread)
    agent.proxy.finish = service.finish
    previous = agent.proxy.on_begin
    agent.proxy.on_begin = service.begin if previous is None else _chain(previous, service.begin)
    if collectors is not None:
        collectors.subscribe(service.on_intervals)
    agent.on_startup.append(lambda _agent: service.start())
    agent.on_cleanup.append(lambda _agent: service.stop())
    return service


def release_spread(cfg: CostConfig, tick_s: float | None) -> float:
    """`cost.release_spread_s`, or by default most of the interval between two releases:
    the collectors' `tick_s` (or, without collectors, the cost timer's)."""
    if cfg.release_spread_s is not None:
        return cfg.release_spread_s
    interval = tick_s if tick_s is not None else cfg.tick_s
    return min(_SPREAD_MAX_S, _SPREAD_OF_TICK * interval)


def _chain(first: Callable, second: Callable) -> Callable:
    def both(*args) -> None:
        first(*args)
        second(*args)

    return both
