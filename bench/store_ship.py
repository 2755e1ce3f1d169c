"""Shipping throughput to the Elasticsearch emulator (noida-db): documents/s drained from a
prefilled store by the shipper, side by side with the agent-side ceiling (row -> ECS JSON
conversion alone) and the server-side ceiling (`async_bulk` of ready documents).

    python bench/store_ship.py [N]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from elasticsearch import AsyncElasticsearch  # noqa: E402
from elasticsearch.helpers import async_bulk  # noqa: E402

from agent.config import load_settings  # noqa: E402
from agent.metrics import new_registry  # noqa: E402
from agent.shipping.ecs import DocContext, to_document  # noqa: E402
from agent.shipping.outbox import Outbox  # noqa: E402
from agent.shipping.shipper import Shipper  # noqa: E402
from agent.shipping.stats import ShipStats  # noqa: E402
from agent.store import schema  # noqa: E402
from agent.store.rows import StoredRecord, from_json, to_row  # noqa: E402
from agent.store.stats import StoreStats  # noqa: E402
from agent.store.writer import StoreWriter  # noqa: E402
from tests.es_emulator import EsEmulator, free_port  # noqa: E402
from tests.store_records import make_record  # noqa: E402


def prefill(path: Path, records) -> list[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = schema.connect(str(path))
    schema.migrate(conn)
    rows = [to_row(r, schema.COST_FINAL, seq) for seq, r in enumerate(records, 1)]
    conn.execute("BEGIN")
    conn.executemany(schema.INSERT_SQL, rows)
    conn.execute("COMMIT")
    conn.close()
    return [r[len(schema.DATA_COLUMNS) - 1] for r in rows]


def convert_rate(texts: list[str]) -> float:
    ctx = DocContext()
    t = time.perf_counter()
    for text in texts:
        orjson.dumps(to_document(StoredRecord(text), ctx))
    return len(texts) / (time.perf_counter() - t)


async def ship_rate(settings, n: int) -> float:
    registry, instruments = new_registry()
    writer = StoreWriter(settings.store, StoreStats(instruments), keep_unshipped=True)
    writer.start()
    outbox = Outbox(str(settings.store.path), writer)
    shipper = Shipper(settings.elasticsearch, outbox, ShipStats(instruments), DocContext())
    t = time.perf_counter()
    await shipper.start()
    while (
        registry.get_sample_value("inferwatch_shipper_documents_total", {"result": "created"}) or 0
    ) < n:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - t
    await shipper.stop()
    writer.close()
    return n / elapsed


async def raw_bulk_rate(url: str, texts: list[str]) -> float:
    es = AsyncElasticsearch(url)
    ctx = DocContext()
    docs = [orjson.dumps(to_document(from_json(t), ctx)) for t in texts]
    actions = [
        {"_op_type": "create", "_index": "logs-raw-default", "_id": str(i), "_source": d}
        for i, d in enumerate(docs)
    ]
    t = time.perf_counter()
    await async_bulk(es, actions, chunk_size=1000, raise_on_error=False)
    elapsed = time.perf_counter() - t
    await es.close()
    return len(docs) / elapsed


def null_bulk(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("null_bulk.py")), str(port)]
    )
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    raise RuntimeError("null bulk server did not start")


async def to_null_rate(tmp: Path, records, k: int) -> float:
    prefill(tmp / f"null{k}" / "requests.sqlite3", records)
    port = free_port()
    proc = null_bulk(port)
    try:
        es = {"url": f"http://127.0.0.1:{port}", "batch_size": 1000}
        store = {"dir": str(tmp / f"null{k}")}
        settings = load_settings(overrides={"store": store, "elasticsearch": es})
        return await ship_rate(settings, len(records))
    finally:
        proc.terminate()
        proc.wait()


async def main(n: int, rounds: int = 3) -> None:
    tmp = Path(tempfile.mkdtemp())
    records = [make_record(i) for i in range(n)]
    texts = prefill(tmp / "a" / "requests.sqlite3", records)
    with EsEmulator(tmp / "es") as emu:
        es = {"url": emu.url, "batch_size": 1000}
        settings = load_settings(overrides={"store": {"dir": str(tmp / "a")}, "elasticsearch": es})
        shipped = await ship_rate(settings, n)
        raw = await raw_bulk_rate(emu.url, texts)
    conv, to_null = [], []
    for k in range(rounds):  # interleaved, medians: the machine is shared and noisy
        conv.append(convert_rate(texts))
        to_null.append(await to_null_rate(tmp, records, k))
    conv_m, null_m = statistics.median(conv), statistics.median(to_null)
    print(
        f"documents: {n}, bulk of 1000, emulator noida-db, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"async_bulk of ready docs into the emulator (server ceiling): {raw:>7,.0f} docs/s")
    print(
        f"shipper, store -> emulator:                                {shipped:>7,.0f} docs/s "
        f"({shipped / raw:.2f} of the server ceiling)"
    )
    print(
        f"row -> ECS JSON alone (agent ceiling, median of {rounds}):        {conv_m:>7,.0f} docs/s"
    )
    print(
        f"shipper, store -> null bulk stand-in (median of {rounds}):        {null_m:>7,.0f} docs/s "
        f"({null_m / conv_m:.2f} of the conversion ceiling); all rounds: "
        + ", ".join(f"{x:,.0f}" for x in to_null)
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
