"""An Elasticsearch outage loses nothing: the emulator (noida-db) is down for the first half
of a 5,000-request load through the agent, then comes up; every document arrives once."""

from __future__ import annotations

import asyncio

import pytest
from elasticsearch import AsyncElasticsearch

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from tests.es_emulator import EsEmulator
from tests.es_helpers import doc_count, missing_ids, send_load, start_upstream, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

N = 5000


async def test_emulator_down_for_half_the_load_receives_every_document_once(tmp_path):
    emulator = EsEmulator(tmp_path / "es")  # port chosen now, server started mid-load
    up_runner, upstream = await start_upstream()
    settings = load_settings(
        overrides={
            "store": {"dir": str(tmp_path / "store")},
            "elasticsearch": {"url": emulator.url, "backoff_initial_s": 0.1, "backoff_max_s": 1},
        }
    )
    agent = Agent(settings, upstream)
    runner = await serve(agent, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    es = AsyncElasticsearch(emulator.url)
    started = asyncio.Event()

    during: dict[str, float] = {}

    async def on_done(count: int) -> None:
        if count == N // 2 and not started.is_set():
            started.set()
            # The status gauges are refreshed every 2 s and the first half of the load can
            # take less: wait for a refresh that saw the outage's backlog.
            for _ in range(60):
                if agent.registry.get_sample_value("inferwatch_shipper_backlog_records"):
                    break
                await asyncio.sleep(0.1)
            for name in ("inferwatch_shipper_backlog_records", "inferwatch_shipper_lag_seconds"):
                during[name] = agent.registry.get_sample_value(name)
            await asyncio.to_thread(emulator.start)

    try:
        ids = await send_load(base, N, concurrency=16, on_done=on_done)
        assert len(ids) == N and started.is_set()
        await wait_for(lambda: _shipped_all(es, N))
        assert await missing_ids(es, ids) == []
        assert await doc_count(es) == N  # _id = request id: none twice
        failures = agent.registry.get_sample_value(
            "inferwatch_shipper_failures_total", {"error_type": "connection"}
        )
        assert failures and failures > 0  # the outage was seen, counted, and survived
        assert during["inferwatch_shipper_backlog_records"] > 0
        assert during["inferwatch_shipper_lag_seconds"] > 0
        await wait_for(lambda: _gauge_is_zero(agent, "inferwatch_shipper_backlog_records"))
    finally:
        await es.close()
        await runner.cleanup()
        await up_runner.cleanup()
        emulator.stop()


async def _shipped_all(es: AsyncElasticsearch, n: int) -> bool:
    try:
        return await doc_count(es) >= n
    except Exception:
        return False


async def _gauge_is_zero(agent: Agent, name: str) -> bool:
    return agent.registry.get_sample_value(name) == 0
