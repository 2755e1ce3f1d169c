"""Runs collectors in isolation, as node_exporter does, and serves their latest snapshots.

Each tick calls every collector's `collect()` in a worker thread with its own time limit.
A collector that raises or overruns is counted as failed for that tick and exposes nothing;
the others are unaffected. A collector still stuck in an earlier call is not called again
until it returns, so a hung driver call never piles up threads. `/metrics` reads only the
latest snapshots (this object is a prometheus_client custom collector): a scrape never
waits on hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric

from agent.catalogue import exported_by, spec
from collectors.base import Collector, DeviceInterval, Snapshot
from collectors.config import CollectorsConfig

log = logging.getLogger("inferwatch.collectors")
# Why a collection fails: an exception, past its time limit, or skipped because the last
# call is still stuck in the hardware.
FAILURE_REASONS = ("error", "timeout", "busy")

TickCallback = Callable[[Sequence[DeviceInterval]], "Awaitable[None] | None"]


@dataclass(slots=True)
class CollectorState:
    """What the registry knows of one collector after its last run."""

    snapshot: Snapshot | None = None
    success: bool = False
    duration_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)  # reason -> count
    running: Future | None = None
    warned: bool = False  # a failure was logged since the last success
    successes: int = 0  # collections that returned a snapshot, since start

    def fail(self, reason: str, duration_s: float) -> None:
        self.snapshot, self.success, self.duration_s = None, False, duration_s
        self.failures[reason] = self.failures.get(reason, 0) + 1


def _in_daemon_thread(fn: Callable[[], Snapshot], name: str) -> Future:
    """Run `fn` in a new daemon thread. Not a ThreadPoolExecutor: its threads are joined at
    interpreter exit, so a driver call that never returns would keep the agent from exiting."""
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as err:  # handed to the awaiting tick, which counts it
            future.set_exception(err)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class CollectorRunner:
    """Runs a set of collectors every `config.interval_s` and holds their latest snapshots.

    Register it on a prometheus_client registry (`registry.register(runner)`); start it with
    `start()` on a running event loop and stop it with `await stop()`. `subscribe(callback)`
    hands each tick's device intervals to `callback` on the event loop.
    """

    def __init__(
        self,
        collectors: Iterable[Collector],
        config: CollectorsConfig,
        expected_down: Callable[[str], bool] | None = None,
    ) -> None:
        """`expected_down(name)`: True while a collector's source is down on purpose (the
        bundled vLLM while it starts): its failures are then counted but not warned of."""
        self._collectors = list(collectors)
        self._config = config
        self._states = {c.name: CollectorState() for c in self._collectors}
        self._callbacks: list[TickCallback] = []
        self._task: asyncio.Task | None = None
        self._late: set[asyncio.Task] = set()  # subscribers told of late intervals
        self.ticks = 0
        self._expected_down = expected_down or (lambda name: False)

    @property
    def names(self) -> list[str]:
        """Names of the collectors this runner runs, in order."""
        return [c.name for c in self._collectors]

    def state(self, name: str) -> CollectorState:
        """The state of collector `name` (for tests and health pages)."""
        return self._states[name]

    def subscribe(self, callback: TickCallback) -> None:
        """Call `callback(devices)` on the event loop after every tick (may be async)."""
        self._callbacks.append(callback)

    async def tick(self) -> list[DeviceInterval]:
        """Collect every collector once (concurrently), then notify subscribers."""
        snaps = await asyncio.gather(*(self._run_one(c) for c in self._collectors))
        devices = [d for s in snaps if s is not None for d in s.devices]
        self.ticks += 1
        await self._notify(devices)
        return devices

    async def _run_one(self, collector: Collector) -> Snapshot | None:
        st = self._states[collector.name]
        if st.running is not None and not st.running.done():
            st.fail("busy", st.duration_s)  # an earlier call is still stuck in the hardware
            return None
        start = time.perf_counter()
        st.running = _in_daemon_thread(collector.collect, f"collector-{collector.name}")
        try:
            snap = await asyncio.wait_for(
                asyncio.wrap_future(st.running), self._config.timeout_for(collector.name)
            )
        except TimeoutError:
            self._failed(collector.name, st, "timeout", start)
            self._deliver_late(st.running)
            return None
        except Exception:
            log.debug("collector %s failed", collector.name, exc_info=True)
            self._failed(collector.name, st, "error", start)
            return None
        st.snapshot, st.success, st.warned = snap, True, False
        st.successes += 1
        st.duration_s = time.perf_counter() - start
        return snap

    def _deliver_late(self, running: Future) -> None:
        """A collection that overran its time limit still measured its interval, and the
        collector has moved its baseline past it: when it ends, its device intervals go to
        the subscribers (its metric families do not, they are stale by then). Dropped, that
        stretch of device time would be metered by nobody and its requests charged nothing."""
        loop = asyncio.get_running_loop()

        def done(f: Future) -> None:  # on the collector's thread
            if f.cancelled() or f.exception() is not None:
                return
            devices = list(f.result().devices)
            if not devices:
                return
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._notify_late, devices)

        running.add_done_callback(done)

    def _notify_late(self, devices: list[DeviceInterval]) -> None:
        task = asyncio.get_running_loop().create_task(self._notify(devices))
        self._late.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._late.discard)

    def _failed(self, name: str, st: CollectorState, reason: str, start: float) -> None:
        if not st.warned and not self._expected_down(name):  # the change of state, once
            log.warning("collector %s failed (%s)", name, reason)
            st.warned = True
        st.fail(reason, time.perf_counter() - start)

    async def _notify(self, devices: list[DeviceInterval]) -> None:
        for cb in self._callbacks:
            try:
                result = cb(devices)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("collector tick subscriber %r failed", cb)

    def start(self) -> None:
        """Start the periodic loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="collectors")

    async def stop(self) -> None:
        """Stop the loop, then close collectors that are not stuck in a call."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for c in self._collectors:
            running = self._states[c.name].running
            close = getattr(c, "close", None)
            if close is not None and (running is None or running.done()):
                close()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.tick()
            next_at += self._config.interval_s
            # After a slow tick, skip the missed ticks and wait a whole interval: run at once,
            # the next tick would read rates over a stretch too short to measure (two host
            # CPU readings a millisecond apart show no change) and hammer a slow device.
            if next_at < loop.time():
                next_at = loop.time() + self._config.interval_s
            await asyncio.sleep(next_at - loop.time())

    # -- prometheus_client custom collector ------------------------------------------------

    def describe(self) -> list[Metric]:
        """Every family this runner may expose, from the catalogue: its own health families
        and those declared `source: collectors.<name>` for each collector it runs (which of
        them a scrape shows depends on what the hardware reports)."""
        sources = ["collectors.registry", *(f"collectors.{name}" for name in self.names)]
        return [s.family() for source in sources for s in exported_by(source)]

    def collect(self) -> Iterable[Metric]:
        """The runner's own health families, then every collector's latest families."""
        yield from self._health_families()
        for st in self._states.values():
            if st.snapshot is not None:
                yield from st.snapshot.families

    def _health_families(self) -> list[Metric]:
        ran = [(n, st) for n, st in self._states.items() if st.running is not None]
        success, duration, no_data, failures = (
            spec(f"inferwatch_collector_{n}").family()
            for n in ("success", "duration_seconds", "no_data", "failures_total")
        )
        for name, st in ran:
            success.add_metric([name], 1.0 if st.success else 0.0)
            duration.add_metric([name], st.duration_s)
            no_data.add_metric(
                [name], 1.0 if st.snapshot is not None and st.snapshot.no_data else 0.0
            )
            # Every reason from 0, so the first failure is an increase a panel or rule sees.
            for reason in (*FAILURE_REASONS, *(r for r in st.failures if r not in FAILURE_REASONS)):
                failures.add_metric([name, reason], st.failures.get(reason, 0))
        return [success, duration, no_data, failures]
