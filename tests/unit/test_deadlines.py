"""The proxy's coarse time limits (agent.deadlines), on a real event loop."""

from __future__ import annotations

import asyncio

import pytest

from agent.deadlines import Deadlines

pytestmark = pytest.mark.unit


async def test_a_limit_that_passes_raises_timeout_error_and_the_task_goes_on():
    d = Deadlines(resolution_s=0.01)
    with pytest.raises(TimeoutError), d.limit(0.03):
        await asyncio.sleep(5)
    await asyncio.sleep(0.02)  # the task is not left cancelled
    assert asyncio.current_task().cancelling() == 0
    assert len(d) == 0


async def test_work_done_in_time_is_untouched():
    d = Deadlines(resolution_s=0.01)
    with d.limit(1.0):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)  # past a few checks: nothing fires afterwards
    assert len(d) == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    d = Deadlines(resolution_s=0.01)

    async def guarded():
        with d.limit(0.5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.02)
    task.cancel()  # e.g. the client hung up
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_both_at_once_stays_cancelled():
    d = Deadlines(resolution_s=0.01)

    async def guarded():
        with d.limit(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0)  # the task is inside its limit
    for armed in list(d._live):
        armed.due = 0.0
    d._check()  # the limit fires: the task is being cancelled by it ...
    task.cancel()  # ... and by someone else before it ran again
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_only_the_expired_one_of_many_fires():
    d = Deadlines(resolution_s=0.01)

    async def guarded(seconds):
        with d.limit(seconds):
            await asyncio.sleep(0.1)
        return "done"

    results = await asyncio.gather(guarded(0.02), guarded(5), return_exceptions=True)
    assert isinstance(results[0], TimeoutError)
    assert results[1] == "done"
