"""The saved searches' query DSL (dashboards/kibana/queries/*.json) run against the noida-db
emulator of the Elasticsearch API (not Elasticsearch), filled by a live agent in front of the
scripted test upstream (not vLLM): each query's hits are exactly the documents of the
requests it is about, in its order.

The queries go to the data view's index pattern (`logs-inferwatch-*`), as Kibana sends them.
The emulator runs every clause the queries use (bool filter, term, range, exists, sort);
Kibana's time-picker range is left out, as in the query files.
"""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from elasticsearch import AsyncElasticsearch

from agent.shipping.ecs import DocContext, to_document
from dashboards.kibana.export import HERE
from dashboards.kibana.objects import data_view_title
from dashboards.kibana.searches import TENANT_PLACEHOLDER
from tests.es_emulator import es_emulator  # noqa: F401 - fixture
from tests.es_helpers import DATA_STREAM, doc_count, wait_for
from tests.records import make_record

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

EMAIL = "write to me at jo.smith@example.com please"
OTHER = "other-tenant"
# name -> (tenant, prompt, scripted upstream headers); sent one at a time, so each cost is
# that request's own device time (more output tokens: a longer request).
PLAN = {
    "ok-small": (OTHER, "hello", {"x-fake-tokens": "5"}),
    "ok-large": (OTHER, "hello", {"x-fake-tokens": "400"}),
    "err-500": (OTHER, "hello", {"x-fake-status": "500"}),
    "err-tenant": (TENANT_PLACEHOLDER, "hello", {"x-fake-status": "502"}),
    "pii": (OTHER, EMAIL, {"x-fake-tokens": "20"}),
    "pii-tenant": (TENANT_PLACEHOLDER, EMAIL, {"x-fake-tokens": "60"}),
    "tenant-ok": (TENANT_PLACEHOLDER, "hello", {"x-fake-tokens": "150"}),
}
LOST_ID = "lost-cost"  # a document whose cost never came (shipped with no amount)


def query(name: str) -> dict:
    return json.loads((HERE / "queries" / f"{name}.json").read_text())


async def send(agent_url: str) -> dict[str, str]:
    """Send the plan through the agent; name -> the request id it answered with."""
    ids = {}
    async with aiohttp.ClientSession() as session:
        for name, (tenant, prompt, headers) in PLAN.items():
            body = {"model": "fake-model", "messages": [{"role": "user", "content": prompt}]}
            h = {"x-tenant-id": tenant, **headers}
            async with session.post(f"{agent_url}/v1/chat/completions", json=body, headers=h) as r:
                await r.read()
                ids[name] = r.headers["x-request-id"]
    return ids


async def add_lost_cost_doc(es: AsyncElasticsearch) -> None:
    """What the shipper sends for a record whose cost was lost: no `inferwatch.cost.amount`."""
    record = make_record(LOST_ID, tenant=OTHER, wall_time=time.time())
    doc = to_document(record, DocContext(), "lost")
    await es.create(index=DATA_STREAM, id=LOST_ID, document=doc, refresh=True)


async def hits(es: AsyncElasticsearch, name: str) -> list[dict]:
    body = query(name)
    resp = await es.search(index=data_view_title(), size=100, **body)
    return resp["hits"]["hits"]


@pytest.fixture
async def filled(es_emulator, fake_upstream, start_agent):  # noqa: F811
    """(client, name -> request id) once every request's document is in the emulator."""
    es_settings = {"url": es_emulator.url, "backoff_initial_s": 0.1, "idle_poll_s": 0.05}
    agent = await start_agent(fake_upstream.url, elasticsearch=es_settings)
    # A request before the first metered tick has no whole cost (0.0, unmetered): wait for it.
    await wait_for(lambda: _metered(agent), timeout=30)
    ids = await send(agent.url)
    es = AsyncElasticsearch(es_emulator.url)
    try:
        await wait_for(lambda: _count_is(es, len(PLAN)))
        await add_lost_cost_doc(es)
        yield es, ids
    finally:
        await es.close()


async def _metered(agent) -> bool:
    families = agent.agent.registry.collect()
    costs = [s.value for f in families if f.name == "inferwatch_cost_metered" for s in f.samples]
    return any(v > 0 for v in costs)


async def _count_is(es: AsyncElasticsearch, n: int) -> bool:
    return await doc_count(es) >= n


def _ids(found: list[dict]) -> set[str]:
    return {h["_id"] for h in found}


def _newest_first(found: list[dict]) -> bool:
    ms = [h["_source"]["@timestamp"][:23] for h in found]  # dates are sorted to the ms
    return ms == sorted(ms, reverse=True)


async def test_errors_query_finds_the_failed_requests(filled):
    es, ids = filled
    found = await hits(es, "errors")
    assert _ids(found) == {ids["err-500"], ids["err-tenant"]}
    assert {h["_source"]["http"]["response"]["status_code"] for h in found} == {500, 502}
    assert _newest_first(found)


async def test_safety_query_finds_the_flagged_requests(filled):
    es, ids = filled
    found = await hits(es, "safety-hits")
    assert _ids(found) == {ids["pii"], ids["pii-tenant"]}
    assert all(h["_source"]["inferwatch"]["safety"]["filters"] == ["pii.email"] for h in found)
    assert _newest_first(found)


async def test_tenant_query_finds_only_the_placeholder_tenants_requests(filled):
    es, ids = filled
    found = await hits(es, "tenant")
    assert _ids(found) == {ids["err-tenant"], ids["pii-tenant"], ids["tenant-ok"]}
    assert _newest_first(found)


async def test_most_expensive_query_orders_every_costed_request_by_cost(filled):
    es, ids = filled
    found = await hits(es, "most-expensive")
    assert _ids(found) == set(ids.values())  # the lost-cost document has no amount: left out
    costs = [h["_source"]["inferwatch"]["cost"]["amount"] for h in found]
    assert costs == sorted(costs, reverse=True)
    assert len(set(costs)) >= 3  # the order is not trivially the same for any sort
