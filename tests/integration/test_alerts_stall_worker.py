"""The evaluation child: stopped at once by close(), even mid-evaluation (found by
bench/alerts_stall.py: `shutdown(wait=False, cancel_futures=True)` let the evaluation in
flight run on, and the interpreter's exit waited for it: 10 s on a 1M-record store, a
third of a pod's grace period), and run in SCHED_IDLE so it never takes CPU the proxy
wants. Real spawned children, with stand-in evaluators."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import psutil
import pytest

from alerts.worker import EvaluationWorker

pytestmark = pytest.mark.integration


class BlockingEvaluator:
    """Stand-in evaluator: writes its pid when it started, then blocks (an evaluation in
    flight)."""

    def run(self, now: float, inputs: dict) -> None:
        Path(inputs["started"]).write_text(str(os.getpid()))
        time.sleep(3600)


def blocking_factory() -> BlockingEvaluator:
    return BlockingEvaluator()


async def test_close_stops_the_child_while_it_evaluates(tmp_path):
    worker = EvaluationWorker(blocking_factory)
    marker = tmp_path / "started"
    task = asyncio.ensure_future(worker.run(0.0, {"started": str(marker)}))
    async with asyncio.timeout(60):  # spawning imports the alerts package: seconds
        while not (marker.exists() and marker.read_text()):
            await asyncio.sleep(0.05)
    child = psutil.Process(int(marker.read_text()))
    worker.close()
    try:
        child.wait(timeout=5)  # a stopped child exits at once
    except psutil.TimeoutExpired:
        pass
    finally:
        still_running = child.is_running()
        with contextlib.suppress(psutil.Error):
            child.kill()  # the test's own child, by its pid
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    assert not still_running, "the evaluation child outlived close()"


class SchedulerEvaluator:
    def run(self, now: float, inputs: dict) -> int:
        return os.sched_getscheduler(0)


def scheduler_factory() -> SchedulerEvaluator:
    return SchedulerEvaluator()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
@pytest.mark.parametrize("idle", [True, False])
async def test_the_child_evaluates_in_sched_idle_unless_told_not_to(idle):
    worker = EvaluationWorker(scheduler_factory, idle=idle)
    try:
        policy = await asyncio.wait_for(worker.run(0.0, {}), 60)
    finally:
        worker.close()
    assert policy == (os.SCHED_IDLE if idle else os.SCHED_OTHER)
