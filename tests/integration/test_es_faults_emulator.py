"""Per-item bulk failures against the Elasticsearch emulator (noida-db) behind a
fault-injecting proxy: 429 and 500 items are retried until stored once; a malformed
document is kept in the store, reported and not retried; refused setup steps warn."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from elasticsearch import AsyncElasticsearch

from agent.app import Agent
from agent.config import load_settings
from agent.store.reader import StoreReader
from tests.es_emulator import es_emulator  # noqa: F401 - fixture
from tests.es_faults import BulkFaultProxy
from tests.es_helpers import doc_count, missing_ids, wait_for
from tests.store_records import make_record

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


class _Running:
    """An agent's store and shipper without its HTTP side: records go straight in."""

    def __init__(self, tmp_path, es_url: str, **es_extra) -> None:
        es = {"url": es_url, "backoff_initial_s": 0.05, "backoff_max_s": 0.5, "batch_size": 50}
        es |= es_extra
        self.settings = load_settings(
            overrides={"store": {"dir": str(tmp_path)}, "elasticsearch": es}
        )
        self.agent = Agent(self.settings, "http://127.0.0.1:9")

    async def __aenter__(self) -> Agent:
        await self.agent.start()
        return self.agent

    async def __aexit__(self, *exc) -> None:
        await self.agent.stop()


def _metric(agent: Agent, name: str, **labels) -> float:
    return agent.registry.get_sample_value(name, labels) or 0.0


async def test_429_and_500_items_are_retried_and_a_malformed_document_is_kept(
    tmp_path,
    es_emulator,  # noqa: F811
    caplog,
):
    caplog.set_level(logging.WARNING)
    good = [make_record(i) for i in range(200)]
    bad = make_record(999, prompt_tokens="many")  # a long field the server cannot parse
    plan = {r.request_id: (429, 2) for r in good[:20]}
    plan |= {r.request_id: (500, 1) for r in good[20:40]}
    proxy = BulkFaultProxy(es_emulator.url, plan)
    proxy_runner, proxy_url = await _serve(proxy.app)
    es = AsyncElasticsearch(es_emulator.url)
    try:
        async with _Running(tmp_path, proxy_url) as agent:
            for r in [*good[:100], bad, *good[100:]]:
                agent.pipeline.submit(r)
            await wait_for(lambda: _count_is(es, len(good)))
            await wait_for(
                lambda: _true(
                    _metric(agent, "inferwatch_shipper_failures_total", error_type="malformed") == 1
                )
            )
            await wait_for(
                lambda: _true(
                    not StoreReader(tmp_path / "requests.sqlite3")._all(
                        "SELECT 1 FROM requests WHERE ship_state=0"
                    )
                )
            )
            assert (
                _metric(agent, "inferwatch_shipper_failures_total", error_type="too_many_requests")
                == 40
            )
            assert (
                _metric(agent, "inferwatch_shipper_failures_total", error_type="server_error") == 20
            )
        assert await missing_ids(es, [r.request_id for r in good]) == []
        assert await doc_count(es) == len(good)
        assert proxy.sent[bad.request_id] == 1  # rejected once, never looped
        assert proxy.sent[good[0].request_id] == 3 and proxy.sent[good[20].request_id] == 2
        rejected = StoreReader(tmp_path / "requests.sqlite3").rejected()
        assert [r["request_id"] for r in rejected] == [bad.request_id]
        assert "parsing" in rejected[0]["ship_error"] or "pars" in rejected[0]["ship_error"]
        assert any("rejected a document" in r.message for r in caplog.records)
        # The emulator has no lifecycle or data-stream API: a clear warning, shipping went on.
        assert any("refused a setup step" in r.message for r in caplog.records)
    finally:
        await es.close()
        await proxy.close()
        await proxy_runner.cleanup()


async def _count_is(es: AsyncElasticsearch, n: int) -> bool:
    return await doc_count(es) == n


async def _true(value: bool) -> bool:
    return value
