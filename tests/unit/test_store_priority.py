"""The store writer's scheduling class, read back from the kernel (`sched_getscheduler`):
SCHED_IDLE while it keeps up, normal while a caller waits or a record is late."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest

from agent.metrics import new_registry
from agent.store import priority
from agent.store.config import StoreConfig
from agent.store.sqlite_sink import SQLiteSink
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record, until

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(
        not priority.supported() or not priority.can_leave_idle(),
        reason="this process may not leave SCHED_IDLE (needs Linux and CAP_SYS_NICE)",
    ),
]


@pytest.fixture
def writer_of(tmp_path):
    made: list[StoreWriter] = []

    def make(**kw) -> StoreWriter:
        w = StoreWriter(
            StoreConfig(dir=tmp_path, **kw), StoreStats(new_registry()[1]), keep_unshipped=False
        )
        w.start()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


async def _thread_idle(w: StoreWriter) -> bool:
    await until(lambda: w._tid != 0)
    return priority.is_idle(w._tid)


async def _goes_idle(w: StoreWriter) -> None:
    await until(lambda: w._tid != 0 and priority.is_idle(w._tid))


async def test_writer_thread_waits_in_sched_idle_and_still_commits(writer_of):
    w = writer_of(flush_interval_s=0.05)
    await _goes_idle(w)
    sink = SQLiteSink(w)
    result = await sink.export([make_record(i) for i in range(20)])
    await sink.flush()
    assert result.accepted == 20
    assert not w._records
    # Caught up again: back in the idle class.
    await _goes_idle(w)


async def test_a_caller_waiting_on_the_writer_raises_it_to_normal(writer_of):
    w = writer_of()
    await _goes_idle(w)
    release = threading.Event()
    seen: list[bool] = []

    def op(_conn) -> str:
        seen.append(priority.is_idle(threading.get_native_id()))  # on the writer thread
        release.wait(5)
        return "done"

    fut = w.submit(op)
    await until(lambda: bool(seen))
    assert seen == [False] and not priority.is_idle(w._tid)
    release.set()
    assert await asyncio.wrap_future(fut) == "done"
    await _goes_idle(w)


@contextlib.contextmanager
def starved_idle_writer(tmp_path):
    """A writer whose thread is a stand-in that never runs the writer's loop ("starved"),
    at SCHED_IDLE."""
    w = StoreWriter(
        StoreConfig(dir=tmp_path, flush_interval_s=0.05),
        StoreStats(new_registry()[1]),
        keep_unshipped=False,
    )
    ready, stop = threading.Event(), threading.Event()
    tids: list[int] = []

    def stand_in() -> None:
        tids.append(threading.get_native_id())
        ready.set()
        stop.wait(10)

    t = threading.Thread(target=stand_in)
    t.start()
    try:
        ready.wait(5)
        w._tid, w._may_idle = tids[0], True
        w._idle = priority.set_idle(w._tid, True)
        assert priority.is_idle(w._tid)
        yield w
    finally:
        stop.set()
        t.join()


async def test_a_late_record_makes_the_loop_raise_a_starved_idle_writer(tmp_path):
    with starved_idle_writer(tmp_path) as w:
        w.put_early(make_record(1))
        assert priority.is_idle(w._tid)  # just queued: not late yet
        time.sleep(0.15)  # over two flush intervals
        w.put_early(make_record(2))
        assert not priority.is_idle(w._tid) and not w._idle


async def test_an_idle_writer_starved_in_the_middle_of_a_batch_is_raised(tmp_path):
    # The stand-in has taken the batch (as the writer does before writing it) and is
    # starved before its commit: a record that comes then starts its own flush interval,
    # yet the batch under way is late, and that must raise the writer.
    with starved_idle_writer(tmp_path) as w:
        w.put_early(make_record(1))
        with w._cond:
            batch, _ = w._take()
        assert len(batch) == 1
        time.sleep(0.15)  # the batch is over two flush intervals old, still not committed
        w.put_early(make_record(2))
        assert not priority.is_idle(w._tid) and not w._idle


@pytest.mark.parametrize(
    "kw", [{"writer_priority": "normal"}, {"durability": "sync"}], ids=["normal", "sync"]
)
async def test_writer_stays_at_normal_priority_when_configured_or_in_sync_mode(writer_of, kw):
    w = writer_of(**kw)
    sink = SQLiteSink(w, sync=kw.get("durability") == "sync")
    await sink.export([make_record(1)])
    await sink.flush()
    assert not await _thread_idle(w)


async def test_writer_stays_at_normal_priority_when_idle_could_not_be_left(writer_of, monkeypatch):
    monkeypatch.setattr(priority, "can_leave_idle", lambda: False)
    w = writer_of()
    await SQLiteSink(w).flush()
    assert not await _thread_idle(w)


async def test_a_refused_raise_is_tried_once_and_the_writer_is_never_lowered_again(
    writer_of, monkeypatch
):
    w = writer_of(flush_interval_s=0.05)
    await _goes_idle(w)
    calls: list[bool] = []
    real = priority.set_idle

    def refuse_raise(tid: int, idle: bool) -> bool:
        calls.append(idle)
        return real(tid, idle) if idle else False  # as without CAP_SYS_NICE

    monkeypatch.setattr(priority, "set_idle", refuse_raise)
    sink = SQLiteSink(w)
    for _ in range(3):
        await sink.flush()  # a waiting caller asks for normal priority each time
    assert calls == [False]  # asked once, refused, never again
    assert not w._may_idle
