"""Background work pauses between slices so the event loop can take the GIL."""

import sys
import threading

import pytest

from agent import gil
from agent.metrics import new_registry
from agent.store.config import StoreConfig
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


def test_store_writer_pauses_while_it_serialises_a_batch(tmp_path, monkeypatch):
    pauses = []
    monkeypatch.setattr(gil, "_pause", lambda: pauses.append(1))
    _, instruments = new_registry()
    writer = StoreWriter(
        StoreConfig(dir=tmp_path), StoreStats(instruments), keep_unshipped=False, early=True
    )
    writer.start()
    try:
        records = [make_record(i) for i in range(40)]
        for r in records:
            writer.put_early(r)
        assert writer.flush().result(10) is True
        journalled = len(pauses)
        writer.put(records)
        assert writer.flush().result(10) is True
    finally:
        writer.close()
    assert journalled >= 40 // gil.PER_SLICE - 1  # journal lines
    assert len(pauses) - journalled >= 40 // gil.PER_SLICE - 1  # rows
