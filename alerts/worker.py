"""Runs the detectors and the alert engine in a child process, never on the agent's loop.

Drift and cost evaluation read and reshape up to millions of records: pandas, SciPy and
JSON parsing that would hold the agent's GIL for long stretches and stall requests. In a
child process they cannot. The child keeps its state (detectors' last results, the
engine) between evaluations; everything it must not lose lives in the alerts database,
so a crashed child is simply started again and picks up where the file says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from common.childproc import die_with_parent, lower_to_idle

log = logging.getLogger("inferwatch.alerts")

# The child's one evaluator, built once by `_init` (a process-local slot: each worker
# process has its own, and the agent's process never sets it).
_EVALUATOR: list[Any] = []


def _init(factory: Callable[[], Any], idle: bool) -> None:
    die_with_parent()  # an agent killed outright leaves no evaluation running on
    if idle:
        # Back-to-back evaluations over a large log take a whole core: at normal priority
        # the proxy waited for CPU (p99 13x on 2 cores, bench/results/alerts.md). In
        # SCHED_IDLE the child runs only on CPU nothing else wants; threads it starts
        # later (BLAS, sklearn) inherit the class.
        lower_to_idle()
    _EVALUATOR[:] = [factory()]


def _run(now: float, inputs: dict) -> Any:
    return _EVALUATOR[0].run(now, inputs)


class EvaluationWorker:
    """One child process that builds an evaluator with `factory()` (picklable: a
    top-level function or a `functools.partial` of one) and runs `evaluator.run(now,
    inputs)` on request. A child that died is replaced on the next call."""

    def __init__(self, factory: Callable[[], Any], idle: bool = True) -> None:
        self._factory, self._idle = factory, idle
        self._pool: ProcessPoolExecutor | None = None

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the agent has threads and an event loop that a forked
            # child would inherit half-way.
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                1, mp_context=ctx, initializer=_init, initargs=(self._factory, self._idle)
            )
        return self._pool

    async def run(self, now: float, inputs: dict) -> Any:
        """The evaluator's result for `now`; raises what the evaluator raised."""
        pool = self._ensure()
        try:
            return await asyncio.wrap_future(pool.submit(_run, now, inputs))
        except BrokenProcessPool:
            log.warning("alerts evaluation process died; starting a new one")
            self.close()
            raise

    def close(self) -> None:
        """Stop the child now, also in the middle of an evaluation (its work is
        repeatable, and its state is in the alerts database)."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
        if terminate is not None:
            terminate()
            return
        # Before 3.14 shutdown() only cancels work not yet handed over: the evaluation in
        # flight would run to its end, and the interpreter's exit would wait for it.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(Exception):
                proc.terminate()
