"""Memory while a backlog waits for an Elasticsearch outage to end: push N records
through the store sink with the shipper pointed at a port where nothing listens, and
sample the process RSS as the backlog grows (records are made on the fly, not kept).

    python bench/store_backlog_memory.py [N]
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import load_settings  # noqa: E402
from agent.metrics import new_registry  # noqa: E402
from agent.shipping.ecs import DocContext  # noqa: E402
from agent.shipping.outbox import Outbox  # noqa: E402
from agent.shipping.shipper import Shipper  # noqa: E402
from agent.shipping.stats import ShipStats  # noqa: E402
from agent.store.sqlite_sink import SQLiteSink  # noqa: E402
from agent.store.stats import StoreStats  # noqa: E402
from agent.store.writer import StoreWriter  # noqa: E402
from tests.store_records import make_record  # noqa: E402

BATCH = 512


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # released again: nothing listens there


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


async def main(n: int) -> None:
    tmp = tempfile.mkdtemp()
    es = {"url": f"http://127.0.0.1:{closed_port()}", "backoff_max_s": 1.0}
    s = load_settings(overrides={"store": {"dir": tmp}, "elasticsearch": es})
    registry, instruments = new_registry()
    writer = StoreWriter(s.store, StoreStats(instruments), keep_unshipped=True)
    writer.start()
    sink = SQLiteSink(writer)
    shipper = Shipper(
        s.elasticsearch, Outbox(str(s.store.path), writer), ShipStats(instruments), DocContext()
    )
    await shipper.start()
    samples = [(0, rss_mb())]
    t = time.perf_counter()
    for i in range(0, n, BATCH):
        await sink.export([make_record(j) for j in range(i, min(n, i + BATCH))])
        if writer_pending(registry) > 50_000:
            await asyncio.sleep(0.05)  # let the writer catch up (the pipeline's bound does this)
        if (i // BATCH) % (n // BATCH // 8 or 1) == 0 and i:
            samples.append((i, rss_mb()))
    await sink.flush()
    elapsed = time.perf_counter() - t
    await asyncio.sleep(2.5)  # one status refresh of the shipper
    samples.append((n, rss_mb()))
    backlog = registry.get_sample_value("inferwatch_shipper_backlog_records")
    failures = registry.get_sample_value(
        "inferwatch_shipper_failures_total", {"error_type": "connection"}
    )
    wal_mb = Path(s.store.path).with_name(s.store.filename + "-wal").stat().st_size / 2**20
    await shipper.stop()
    await sink.close()
    print(f"WAL file before close: {wal_mb:,.1f} MB")
    db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
    print(f"records pushed: {n} in {elapsed:.0f} s ({n / elapsed:,.0f}/s) with Elasticsearch down")
    print(f"backlog gauge: {backlog:,.0f}; connection failures counted: {failures:,.0f}")
    print(f"database on disk: {db_mb:,.0f} MB")
    for count, mb in samples:
        print(f"  backlog {count:>9,}: RSS {mb:7.1f} MB")
    print(
        f"RSS growth first sample -> last: {samples[-1][1] - samples[1][1]:+.1f} MB "
        f"(ratio {samples[-1][1] / samples[1][1]:.2f})"
    )


def writer_pending(registry) -> float:
    return registry.get_sample_value("inferwatch_store_records_pending") or 0


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
