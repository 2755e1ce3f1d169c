"""Background work pauses between slices so the event loop can take the GIL."""

import sys
import threading
import time

import pytest

from agent import gil
from agent.metrics import new_registry
from agent.store.config import StoreConfig
from agent.store.reader import StoreReader
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record

pytestmark = pytest.mark.unit


def test_in_slices_keeps_order_and_pauses_between_slices_only():
    seen: list[object] = []
    out = [
        seen.append(x) or x
        for x in gil.in_slices(range(20), per=8, pause=lambda: seen.append("pause"))
    ]
    assert out == list(range(20))
    assert seen == [*range(8), "pause", *range(8, 16), "pause", *range(16, 20)]
    assert list(gil.in_slices([], per=8, pause=lambda: 1 / 0)) == []


def test_the_default_pause_releases_the_gil():
    """A thread spinning in Python gets the GIL during the pause, not by forcing a switch
    (made rare here with a long switch interval)."""
    ran, stop = threading.Event(), threading.Event()

    def spin():
        while not stop.is_set():
            ran.set()

    t = threading.Thread(target=spin, daemon=True)
    interval = sys.getswitchinterval()
    t.start()
    try:
        assert ran.wait(5)
        sys.setswitchinterval(0.2)  # from now on the spinner waits 0.2 s to force a switch
        ran.clear()
        for _ in range(200):  # well under 0.2 s: only a pause lets the spinner in
            for _ in gil.in_slices(range(9), per=8):  # one pause
                pass
            if ran.is_set():
                break
        assert ran.is_set()  # it ran while this thread slept
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        t.join(5)


def _write_40(tmp_path, monkeypatch, priority: str) -> tuple[StoreWriter, list, int]:
    """Journal 40 early records, then insert their final rows, without a flush (a caller
    waiting for a commit raises the writer to normal priority). Returns (writer, pauses,
    pauses while journalling)."""
    pauses: list[int] = []
    monkeypatch.setattr(gil, "_pause", lambda: pauses.append(1))
    _, instruments = new_registry()
    config = StoreConfig(dir=tmp_path, writer_priority=priority, flush_interval_s=0.01)
    writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=False, early=True)
    writer.start()
    reader = StoreReader(tmp_path / "requests.sqlite3")
    records = [make_record(i) for i in range(40)]
    for r in records:
        writer.put_early(r)
    assert _wait(lambda: len(list(tmp_path.glob("pending-*.jsonl"))) and not writer._records)
    journalled = len(pauses)
    writer.put(records)
    assert _wait(lambda: reader.count() == 40)
    return writer, pauses, journalled


def _wait(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_store_writer_at_idle_priority_pauses_while_it_serialises(tmp_path, monkeypatch):
    writer, pauses, journalled = _write_40(tmp_path, monkeypatch, "idle")
    try:
        if not writer._idle:
            pytest.skip("this machine does not let the writer leave SCHED_IDLE: it never idles")
        assert journalled >= 40 // gil.PER_SLICE - 1  # journal lines
        assert len(pauses) - journalled >= 40 // gil.PER_SLICE - 1  # rows
    finally:
        writer.close()


def test_store_writer_at_normal_priority_does_not_pause(tmp_path, monkeypatch):
    writer, pauses, _ = _write_40(tmp_path, monkeypatch, "normal")
    writer.close()
    assert pauses == []  # raised or normal: throughput first
