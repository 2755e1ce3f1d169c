"""Shipping never stops on one document, against the Elasticsearch emulator (noida-db), some
behind the fault-injecting proxy of `tests/es_faults.py`: a 413 from a proxy's body limit
splits the batch (a document too large alone is dead-lettered), a document that keeps
failing is dead-lettered after `max_attempts`, a row that makes no document is dead-lettered,
and a 409 counts as shipped only when the stored document is ours: another document
holding the `_id` is an `id_collision`, dead-lettered and counted."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from agent.shipping.ecs import DocContext, to_document
from tests.es_emulator import es_emulator  # noqa: F401 - fixture
from tests.es_faults import BulkFaultProxy
from tests.es_helpers import DATA_STREAM, doc_count, missing_ids, wait_for
from tests.integration.test_es_faults_emulator import _metric, _Running, _serve
from tests.store_records import make_record

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]


def _rows(tmp_path, sql: str) -> list[tuple]:
    db = sqlite3.connect(tmp_path / "requests.sqlite3")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _unshipped(tmp_path) -> int:
    return _rows(tmp_path, "SELECT count(*) FROM requests WHERE ship_state = 0")[0][0]


async def _true(value: bool) -> bool:
    return value


async def test_413_splits_the_batch_and_a_failing_document_is_dead_lettered_emulator(
    tmp_path,
    es_emulator,  # noqa: F811
):
    good = [make_record(i, prompt_text="g" * 800) for i in range(120)]
    huge = make_record(500, prompt_text="h" * 40_000)  # over the proxy's limit on its own
    failing = make_record(501)  # answered 500 every time
    proxy = BulkFaultProxy(es_emulator.url, {failing.request_id: (500, 1000)}, max_body=30_000)
    proxy_runner, proxy_url = await _serve(proxy.app)
    es = AsyncElasticsearch(es_emulator.url)
    try:
        async with _Running(tmp_path, proxy_url, max_attempts=3) as agent:
            for r in [*good[:60], huge, failing, *good[60:]]:
                agent.pipeline.submit(r)
            await wait_for(lambda: _true(_unshipped(tmp_path) == 0 and _total(tmp_path) == 122))
            dead = _metric(agent, "inferwatch_shipper_dead_letters_total", reason="too_large")
            assert dead == 1
            assert (
                _metric(agent, "inferwatch_shipper_dead_letters_total", reason="max_attempts") == 1
            )
            assert _metric(agent, "inferwatch_shipper_documents_total", result="created") == 120
            assert _metric(agent, "inferwatch_shipper_failures_total", error_type="too_large") > 0
        assert await missing_ids(es, [r.request_id for r in good]) == []
        assert await doc_count(es) == len(good)
        assert proxy.too_large  # the proxy did refuse whole requests
        assert proxy.sent[failing.request_id] == 3  # max_attempts, then no more
        letters = _rows(
            tmp_path, "SELECT request_id, reason, attempts, document FROM dead_letters ORDER BY id"
        )
        assert {(r[0], r[1]) for r in letters} == {
            (huge.request_id, "too_large"),
            (failing.request_id, "max_attempts"),
        }
        by_reason = {r[1]: r for r in letters}
        assert by_reason["max_attempts"][2] == 3
        kept = orjson.loads(by_reason["too_large"][3])  # the document itself is kept
        assert kept["http"]["request"]["id"] == huge.request_id
        states = dict(_rows(tmp_path, "SELECT request_id, ship_state FROM requests"))
        assert states[huge.request_id] == states[failing.request_id] == 2  # not retried
    finally:
        await es.close()
        await proxy.close()
        await proxy_runner.cleanup()


def _total(tmp_path) -> int:
    return _rows(tmp_path, "SELECT count(*) FROM requests")[0][0]


async def test_a_409_is_shipped_only_for_our_own_document_emulator(
    tmp_path,
    es_emulator,  # noqa: F811
):
    """Two different documents forced onto one `_id`: the one already in Elasticsearch
    stays, ours is dead-lettered as an id collision and counted, not counted as shipped.
    A 409 for our own document (sent before, its answer lost) is a duplicate: shipped."""
    records = [make_record(i, client_request_id=f"client-{i}") for i in range(20)]
    collided, retried = records[5], records[6]
    es = AsyncElasticsearch(es_emulator.url)
    try:
        other = to_document(make_record(99), DocContext())  # another document, same _id
        await es.create(index=DATA_STREAM, id=collided.request_id, document=other)
        ours = to_document(retried, DocContext(), "final")  # our own earlier copy
        await es.create(index=DATA_STREAM, id=retried.request_id, document=ours)
        async with _Running(tmp_path, es_emulator.url) as agent:
            for r in records:
                agent.pipeline.submit(r)
            await wait_for(lambda: _true(_unshipped(tmp_path) == 0 and _total(tmp_path) == 20))
            assert (
                _metric(agent, "inferwatch_shipper_dead_letters_total", reason="id_collision") == 1
            )
            assert _metric(agent, "inferwatch_shipper_documents_total", result="duplicate") == 1
            assert _metric(agent, "inferwatch_shipper_documents_total", result="created") == 18
        assert await doc_count(es) == 20  # 18 created + the two that were there
        kept = await es.get(index=DATA_STREAM, id=collided.request_id)
        assert kept["_source"]["span"]["id"] == other["span"]["id"]  # not overwritten
        letters = _rows(tmp_path, "SELECT request_id, reason, document FROM dead_letters")
        assert [(r[0], r[1]) for r in letters] == [(collided.request_id, "id_collision")]
        assert orjson.loads(letters[0][2])["span"]["id"] == collided.span_id  # ours, kept
        doc = (await es.get(index=DATA_STREAM, id=records[0].request_id))["_source"]
        assert doc["http"]["request"]["id"] == records[0].request_id
        assert doc["inferwatch"]["client_request_id"] == "client-0"
    finally:
        await es.close()


async def test_a_row_that_makes_no_document_is_dead_lettered_and_shipping_goes_on_emulator(
    tmp_path,
    es_emulator,  # noqa: F811
):
    # A stored row this version cannot make a document of (its time is past any date).
    poison = make_record(5, wall_time=1e300)
    records = [make_record(i) for i in range(10)]
    records[5] = poison
    async with _Running(tmp_path, es_emulator.url) as agent:
        for r in records:
            agent.pipeline.submit(r)
        await wait_for(lambda: _true(_unshipped(tmp_path) == 0 and _total(tmp_path) == 10))
        assert _metric(agent, "inferwatch_shipper_dead_letters_total", reason="unconvertible") == 1
        assert _metric(agent, "inferwatch_shipper_documents_total", result="created") == 9
    es = AsyncElasticsearch(es_emulator.url)
    try:
        assert await missing_ids(es, [r.request_id for r in records if r is not poison]) == []
        assert await doc_count(es) == 9
    finally:
        await es.close()
    letters = _rows(tmp_path, "SELECT request_id, reason, document FROM dead_letters")
    assert [(r[0], r[1]) for r in letters] == [(poison.request_id, "unconvertible")]
    assert orjson.loads(letters[0][2])["span_id"] == poison.span_id  # the row's record, kept
