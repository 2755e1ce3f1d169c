"""The disk bound (`store.max_disk_bytes`): with Elasticsearch unreachable the outbox is
kept by the age and size rules, so without it the disk grew without end. At the bound the
oldest rows go, unshipped or not, counted and logged; writes are never held back."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from agent.metrics import new_registry
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter
from tests.store_records import make_record

pytestmark = pytest.mark.unit

MB = 1024 * 1024
BOUND = 6 * MB
BATCH, BATCHES = 50, 40  # ~8 KB records: 16 MB in all, well past the bound


def _disk(folder) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def test_at_the_disk_bound_the_oldest_rows_go_even_unshipped_and_are_counted(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    folder = tmp_path / "store"
    config = StoreConfig(
        dir=folder,
        max_disk_bytes=BOUND,
        retention={"check_interval_s": 0.001, "max_size_mb": 1024},
    )
    registry, instruments = new_registry()
    # keep_unshipped: shipping is on and Elasticsearch never answers (nothing is marked).
    writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=True)
    writer.start()
    sizes, ids = [], []
    try:
        for b in range(BATCHES):
            batch = [make_record(b * BATCH + i, prompt_text="p" * 8000) for i in range(BATCH)]
            ids += [r.request_id for r in batch]
            accepted, _ = writer.put(batch)
            assert accepted == BATCH  # never held back
            assert writer.flush().result(timeout=30) is True
            sizes.append(_disk(folder))
        # One more pass after the last batch (ops run before retention in a writer cycle).
        writer.submit(lambda c: None).result(timeout=30)
        writer.submit(lambda c: None).result(timeout=30)
    finally:
        writer.close()
    db = sqlite3.connect(folder / "requests.sqlite3")
    kept = [r[0] for r in db.execute("SELECT request_id FROM requests ORDER BY id")]
    db.close()
    assert kept == ids[-len(kept) :]  # the newest kept, in order; the oldest went
    assert 0 < len(kept) < len(ids) // 2
    deleted = registry.get_sample_value(
        "inferwatch_store_retention_deleted_total", {"reason": "disk_bound"}
    )
    assert deleted == len(ids) - len(kept)
    assert registry.get_sample_value("inferwatch_store_unshipped_deleted_total") == deleted
    # Near the bound all along. Measured right after a commit, before that cycle's pass:
    # above it by about what one batch adds (~0.4 MB as WAL and as database pages), and once
    # by the WAL that SQLite keeps at its size after an automatic checkpoint (1000 pages).
    wal_kept = 1000 * 4096
    assert max(sizes) <= BOUND + wal_kept + MB, sizes
    assert max(sizes[-10:]) <= BOUND + 1.5 * MB, sizes
    assert _disk(folder) <= BOUND  # closed: the WAL checkpointed away
    assert [r.message for r in caplog.records].count(
        "store at its disk bound; oldest rows deleted"
    ) == 1  # rate-limited
