"""Write early, complete later, through a real agent (test upstream, not vLLM) with its
cost engine on: a request's record is on disk (the store's held table) while the
cost engine still holds it, and not offered to the shipper; once the costed version comes,
it is one final row, shipped once, with its cost, to the Elasticsearch emulator (noida-db).

The collectors tick once an hour here, so only the test releases the held record: it
feeds the cost engine one stand-in interval (a synthetic busy cpu-core, not a real
collector reading)."""

from __future__ import annotations

import sqlite3
import time

import aiohttp
import pytest
from elasticsearch import AsyncElasticsearch

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from collectors.base import DeviceInterval
from tests.es_emulator import es_emulator  # noqa: F401 - fixture
from tests.es_helpers import CHAT, DATA_STREAM, doc_count, start_upstream, wait_for
from tests.store_records import make_record, until

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]


def _settings(tmp_path, es_url: str):
    return load_settings(
        overrides={
            "store": {"dir": str(tmp_path), "pending_timeout_s": 1200},
            "elasticsearch": {"url": es_url, "backoff_max_s": 0.5, "idle_poll_s": 0.05},
            "collectors": {"interval_s": 3600},
            "cost": {"max_hold_s": 600, "prices": {"cpu-core": {"per_hour": 36.0}}},
        }
    )


def _rows(db) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        sql = "SELECT request_id, cost_status, cost_amount FROM requests ORDER BY id"
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _held(db) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT request_id FROM held")}
    finally:
        conn.close()


async def _source(es: AsyncElasticsearch, request_id: str) -> dict | None:
    doc = (await es.mget(index=DATA_STREAM, ids=[request_id]))["docs"][0]
    return doc["_source"] if doc.get("found") else None


async def test_a_held_record_is_stored_at_once_shipped_only_when_costed(
    tmp_path,
    es_emulator,  # noqa: F811
):
    up_runner, upstream = await start_upstream()
    agent = Agent(_settings(tmp_path, es_emulator.url), upstream)
    runner = await serve(agent, "127.0.0.1", 0)
    es = AsyncElasticsearch(es_emulator.url)
    db = tmp_path / "requests.sqlite3"
    try:
        begun = time.monotonic_ns()
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{bound_port(runner)}/v1/chat/completions"
            async with session.post(url, json=CHAT) as resp:
                assert resp.status == 200
                held = resp.headers["x-request-id"]
        # On disk while the cost engine still holds it (no tick has covered it): in the
        # store's `held` table, not yet a row.
        await until(lambda: held in _held(db))
        assert _rows(db) == []
        # A complete record written after it is shipped; the pending one is passed over.
        other = make_record(1)
        agent.pipeline.submit(other)
        await wait_for(lambda: _has(es, other.request_id))
        assert await _source(es, held) is None and await doc_count(es) == 1

        now = time.monotonic_ns()
        busy = (now - begun) / 1e9
        tick = DeviceInterval("cpu:standin", "cpu-core", begun, now, busy, busy, None, 1.0)
        agent.cost.on_intervals([tick])  # releases the held record with its cost
        await wait_for(lambda: _has(es, held))
        cost = (await _source(es, held))["inferwatch"]["cost"]
        assert cost["status"] == "final" and cost["currency"] == "USD" and cost["amount"] > 0
        (row,) = [r for r in _rows(db) if r[0] == held]  # one row, final when written
        assert row[1] == "final" and row[2] == pytest.approx(cost["amount"])
        assert await doc_count(es) == 2
    finally:
        await runner.cleanup()
        await es.close()
        await up_runner.cleanup()


async def _has(es: AsyncElasticsearch, request_id: str) -> bool:
    return await doc_count(es) > 0 and await _source(es, request_id) is not None
