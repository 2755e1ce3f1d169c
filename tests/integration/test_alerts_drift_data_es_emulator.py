"""The Elasticsearch source against the noida-db emulator of the Elasticsearch API: the
documents the shipper makes (`to_document`) read back as the same frame the store source
gives for the same records; paging, the row cap, and an unreachable cluster."""

from __future__ import annotations

import pandas as pd
import pytest
from elasticsearch import Elasticsearch, helpers

from agent.shipping.ecs import DocContext, to_document
from alerts.source import SourceUnavailable
from alerts.source_es import ElasticsearchSource
from tests.es_emulator import es_emulator, free_port  # noqa: F401 - the fixture
from tests.unit.test_alerts_drift_data_source import T0, varied, write_store

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]
INDEX = "logs-inferwatch-default"


def ship(url: str, records) -> None:
    """Index the records as the shipper's documents, with the agent's `_id`."""
    ctx = DocContext(service_name="svc", host_name="h1")
    actions = [
        {"_op_type": "create", "_index": INDEX, "_id": r.request_id, "_source": to_document(r, ctx)}
        for r in records
    ]
    with Elasticsearch(url) as es:
        ok, errors = helpers.bulk(es, actions, refresh=True)
    assert ok == len(records) and not errors


def test_documents_read_back_as_the_store_frame_of_the_same_records(es_emulator, tmp_path):  # noqa: F811
    records = [varied(i) for i in range(12)]
    ship(es_emulator.url, records)
    source = ElasticsearchSource.connect(es_emulator.url, page_size=5)  # three pages
    got = source.frame(T0, T0 + 100)
    want = write_store(tmp_path, records).frame(T0, T0 + 100)
    assert len(got) == 12 and list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert got["finish_reason"].tolist()[:2] == ["length", "stop"]
    assert got.loc[0, "safety_filters"] == "injection,pii.email"
    assert got.loc[0, "prompt_chars"] == 10.0


def test_the_range_is_start_inclusive_end_exclusive_and_the_cap_samples(es_emulator):  # noqa: F811
    ship(es_emulator.url, [varied(i) for i in range(40)])
    source = ElasticsearchSource.connect(es_emulator.url, page_size=7)
    assert source.frame(T0 + 2, T0 + 5)["wall_time"].tolist() == [T0 + 2, T0 + 3, T0 + 4]
    source.max_rows = 10
    sample = source.frame(T0, T0 + 40)
    assert len(sample) == 10 and sample["wall_time"].is_monotonic_increasing
    assert sample["wall_time"].max() > T0 + 10  # not the first ten: drawn from all forty


def test_an_unreachable_cluster_is_source_unavailable_with_the_cause():
    source = ElasticsearchSource.connect(f"http://127.0.0.1:{free_port()}", request_timeout=2)
    with pytest.raises(SourceUnavailable, match="cannot read Elasticsearch.*Connect"):
        source.frame(T0, T0 + 1)
