"""The record pipeline: bounded, counted drops, failing sinks isolated, nothing lost at close."""

import asyncio
import dataclasses

import pytest

from agent.metrics import new_registry
from agent.pipeline import MemorySink, RecordPipeline
from tests.records import make_record

pytestmark = pytest.mark.unit


def rec(i: int):
    return make_record(str(i))


class Exploding:
    name = "exploding"

    async def export(self, batch):
        raise RuntimeError("backend down")

    async def flush(self):
        pass

    async def close(self):
        pass


class Slow(MemorySink):
    """A sink whose every export takes `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def export(self, batch):
        await asyncio.sleep(self.delay)
        return await super().export(batch)


def started(sinks, queue_size: int, batch_size: int, submitted: int = 0):
    """(registry, a started pipeline with records 0..submitted-1 submitted)."""
    registry, inst = new_registry()
    p = RecordPipeline(sinks, queue_size=queue_size, batch_size=batch_size, instruments=inst)
    p.start()
    for i in range(submitted):
        assert p.submit(rec(i))
    return registry, p


async def test_full_queue_counts_drops():
    registry, inst = new_registry()
    p = RecordPipeline([MemorySink()], queue_size=2, batch_size=10, instruments=inst)
    assert [p.submit(rec(i)) for i in range(3)] == [True, True, False]
    assert (
        registry.get_sample_value("inferwatch_records_dropped_total", {"reason": "queue_full"}) == 1
    )
    assert registry.get_sample_value("inferwatch_records_queued") == 2


async def test_queue_is_bounded_by_bytes_too_and_frees_them_when_delivered():
    registry, inst = new_registry()
    sink = MemorySink()
    mb = 1024 * 1024
    p = RecordPipeline([sink], queue_size=1000, batch_size=10, instruments=inst, max_bytes=mb)
    big = [dataclasses.replace(rec(i), prompt_text="x" * (mb // 3 - 2000)) for i in range(4)]
    assert [p.submit(r) for r in big] == [True, True, True, False]
    dropped = {"reason": "queue_bytes"}
    assert registry.get_sample_value("inferwatch_records_dropped_total", dropped) == 1
    p.start()
    async with asyncio.timeout(5):
        while len(sink.records) < 3:
            await asyncio.sleep(0.01)
    assert p.submit(big[3])  # room again once the first three left the queue
    await p.close()
    assert [r.request_id for r in sink.records] == ["0", "1", "2", "3"]


async def test_failing_sink_does_not_starve_others_and_close_delivers_all():
    good = MemorySink()
    registry, p = started([Exploding(), good], queue_size=1000, batch_size=7, submitted=50)
    await asyncio.sleep(0)
    await p.close()
    assert [r.request_id for r in good.records] == [str(i) for i in range(50)]
    assert (
        registry.get_sample_value("inferwatch_sink_export_failures_total", {"sink": "exploding"})
        >= 1
    )


async def test_slow_sink_batch_in_progress_is_finished_at_close():
    slow = Slow(0.05)
    _, p = started([slow], queue_size=100, batch_size=5, submitted=12)
    await asyncio.sleep(0.01)  # the consumer is now inside a slow export
    await p.close()
    assert sorted(int(r.request_id) for r in slow.records) == list(range(12))


async def test_close_with_a_full_queue_waits_for_room_and_delivers_all_in_order():
    slow = Slow(0.01)
    registry, p = started([slow], queue_size=4, batch_size=2, submitted=4)
    await asyncio.sleep(0)  # the consumer took a batch; fill the queue up again
    assert p.submit(rec(4)) and p.submit(rec(5))
    await asyncio.wait_for(p.close(), 5)  # the end mark waits for room: no deadlock
    assert [int(r.request_id) for r in slow.records] == list(range(6))
    assert registry.get_sample_value("inferwatch_records_queued") == 0
