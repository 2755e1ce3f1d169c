"""`EsData`'s request bodies (what it asks Elasticsearch), reading the answers, the log-bin
quantiles, and its messages when Elasticsearch cannot answer (a closed port)."""

from __future__ import annotations

import numpy as np
import pytest

from dashboards.data import es_bins, es_safety
from dashboards.data import es_query as Q
from dashboards.data.api import MEASURES, ZERO_BIN, DataUnavailable, Filters, bin_bounds, bin_of
from dashboards.data.es import EsData
from dashboards.data.es_client import safe_url
from dashboards.data.es_frames import key_of, keyed, measure_row
from tests.es_emulator import free_port

pytestmark = pytest.mark.unit

F = Filters(1_700_000_010.0, 1_700_003_590.0, models=("qwen2-7b", ""), tenants=("acme",))


def test_where_is_the_minute_widened_range_and_the_choices():
    clauses = Q.where(F)["bool"]["filter"]
    assert clauses[0] == {
        "range": {
            "@timestamp": {
                "gte": 1_699_999_980_000,
                "lt": 1_700_003_640_000,
                "format": "epoch_millis",
            }
        }
    }
    models = clauses[1]["bool"]["should"]
    assert models[0] == {"terms": {"gen_ai.request.model": ["qwen2-7b"]}}
    # the empty model is a document without the field (the agent leaves it out)
    assert models[1] == {"bool": {"must_not": {"exists": {"field": "gen_ai.request.model"}}}}
    assert clauses[2]["bool"]["should"] == [{"terms": {"user.id": ["acme"]}}]
    assert len(Q.where(F, choices=False)["bool"]["filter"]) == 1
    last = Q.where(F, statuses=("ok",))["bool"]["filter"][-1]
    assert last["bool"]["should"] == [{"terms": {"inferwatch.status": ["ok"]}}]


def test_measures_ask_one_aggregation_per_measure():
    aggs = Q.measures()
    assert set(aggs) == set(MEASURES) - {"requests", "errors"} | {"statuses"}
    assert aggs["cost"] == {"sum": {"field": "inferwatch.cost.amount"}}
    assert aggs["costed"] == {"value_count": {"field": "inferwatch.cost.amount"}}
    assert aggs["statuses"] == {"terms": {"field": "inferwatch.status", "size": 100}}
    bucket = {"doc_count": 7, "statuses": {"buckets": [{"key": "ok", "doc_count": 5}]}}
    bucket |= {name: {"value": 1.0} for name in MEASURES[2:]}
    assert measure_row(bucket)["errors"] == 2


def test_terms_have_a_missing_sibling_and_steps_are_whole_minutes():
    aggs = Q.by_terms("finish_reason", {"x": {}})
    assert aggs[Q.KEYS]["terms"]["field"] == "gen_ai.response.finish_reasons"
    assert aggs[Q.MISSING] == {
        "missing": {"field": "gen_ai.response.finish_reasons"},
        "aggs": {"x": {}},
    }
    hist = Q.time_buckets(300, {})["t"]["date_histogram"]
    assert hist == {"field": "@timestamp", "fixed_interval": "300s", "min_doc_count": 1}
    with pytest.raises(ValueError, match="whole number of minutes"):
        Q.time_buckets(90, {})
    with pytest.raises(ValueError, match="unknown dimension 'user'"):
        Q.by_terms("user")
    with pytest.raises(ValueError, match="unknown metric"):
        Q.distribution_field("tokens")


def test_keys_read_back_as_text_with_the_missing_ones_empty():
    assert key_of({"key": True}) == "true"  # the emulator
    assert key_of({"key": 1, "key_as_string": "true"}) == "true"  # Elasticsearch
    aggs = {
        Q.KEYS: {"buckets": [{"key": "stop", "doc_count": 3}]},
        Q.MISSING: {"doc_count": 2},
    }
    assert [k for k, _ in keyed(aggs)] == ["stop", ""]
    aggs[Q.KEYS]["sum_other_doc_count"] = 5
    with pytest.raises(DataUnavailable, match="too many distinct values"):
        list(keyed(aggs))


def test_bin_ranges_are_the_log_bins_and_a_range_below_them():
    span = es_bins.span_of({"positive": {"s": {"count": 3, "min": 0.1, "max": 2.0}}})
    assert span == (bin_of(0.1) - 1, bin_of(2.0) + 1)
    ranges = es_bins.bin_ranges("f", span)["bins"]["range"]["ranges"]
    assert ranges[0] == {"key": "zero", "to": bin_bounds(span[0])[0]}
    for r in ranges[1:]:
        assert (r["from"], r["to"]) == bin_bounds(int(r["key"]))
    assert [r["from"] for r in ranges[2:]] == [r["to"] for r in ranges[1:-1]]  # adjacent
    assert es_bins.span_of({"positive": {"s": {"count": 0}}}) is None
    assert es_bins.bin_ranges("f", None)["bins"]["range"]["ranges"] == [
        {"key": "zero", "to": 1e-300}
    ]


def _counts(values) -> list[tuple[int, int]]:
    bins, counts = np.unique([bin_of(v) for v in values], return_counts=True)
    return [(int(b), int(c)) for b, c in zip(bins, counts, strict=True)]


@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 0.99, 1.0])
def test_quantiles_off_the_bins_are_within_a_bin_of_exact(q):
    values = np.random.default_rng(3).lognormal(0, 1.5, 2000)
    got = es_bins.quantile(_counts(values), q)
    assert got == pytest.approx(np.quantile(values, q), rel=0.09)


def test_quantiles_of_zeros_and_of_nothing():
    assert es_bins.quantile(_counts([0.0, 0.0, 3.0]), 0.5) == 0.0
    assert es_bins.counts_of({"bins": {"buckets": [{"key": "zero", "doc_count": 2}]}}) == [
        (ZERO_BIN, 2)
    ]
    assert es_bins.quantile([], 0.5) is None


def test_several_kinds_of_verdict_are_documents_with_two_values_of_an_array():
    found = [
        {"filter": "a", "direction": "input", "action": "flag"},
        {"filter": "b", "direction": "input", "action": "flag"},
    ]
    should = es_safety.several(found)["bool"]["should"]
    assert should == [
        {"bool": {"filter": [{"term": {"inferwatch.safety.filters": v}} for v in ("a", "b")]}}
    ]


def test_credentials_are_never_shown():
    url = "https://elastic:hunter2@es.example:9200"
    assert safe_url(url) == "https://es.example:9200"
    data = EsData(url, "logs-x-*", api_key="c2VjcmV0", request_timeout=1)
    assert data.info().location == "https://es.example:9200 logs-x-*"
    with pytest.raises(ValueError, match="not both"):
        EsData("http://h:9200", api_key="k", basic_auth=("u", "p"))


def test_a_closed_port_names_the_url_and_the_cause():
    url = f"http://127.0.0.1:{free_port()}"
    data = EsData(url, request_timeout=2)
    with pytest.raises(DataUnavailable, match=f"cannot reach Elasticsearch at {url}: .*Connect"):
        data.totals(F)


class Recorder:
    """A client stand-in that keeps what it was asked and answers `answer`."""

    def __init__(self, answer: dict) -> None:
        self.asked: list[dict] = []
        self.answer = answer

    def search(self, **kwargs):
        self.asked.append(kwargs)
        return _Resp(self.answer)


class _Resp(dict):
    @property
    def body(self) -> dict:
        return dict(self)


SHARDS = {"_shards": {"total": 1, "successful": 1, "failed": 0}}


def test_the_request_table_is_a_bounded_search_without_texts():
    stub = Recorder(SHARDS | {"hits": {"hits": []}})
    data = EsData("http://h:9200", client=stub)
    assert data.requests(F, statuses=("ok",), order="cost", limit=50).empty
    asked = stub.asked[0]
    assert asked["size"] == 50 and asked["index"] == "logs-inferwatch-*"
    assert asked["sort"][0] == {"inferwatch.cost.amount": {"order": "desc", "missing": "_last"}}
    assert not any("text" in field for field in asked["source_includes"])
    with pytest.raises(ValueError, match="unknown order"):
        data.requests(F, order="oldest")


def test_totals_by_a_dimension_ask_only_aggregations():
    answer = SHARDS | {"aggregations": {Q.KEYS: {"buckets": []}, Q.MISSING: {"doc_count": 0}}}
    stub = Recorder(answer)
    assert EsData("http://h:9200", client=stub).totals(F, by="tenant").empty
    asked = stub.asked[0]
    assert asked["size"] == 0 and asked["aggs"] == Q.by_terms("tenant", Q.measures())
    assert asked["query"] == Q.where(F)


def test_a_pattern_matching_no_index_says_shipping_may_be_off():
    stub = Recorder({"_shards": {"total": 0, "successful": 0, "failed": 0}})
    with pytest.raises(
        DataUnavailable, match=r"no request logs yet at logs-a-\*: is shipping on\?"
    ):
        EsData("http://h:9200", "logs-a-*", client=stub).values("tenant", F)


def test_a_partial_answer_is_refused():
    stub = Recorder({"_shards": {"total": 3, "successful": 2, "failed": 1}})
    with pytest.raises(DataUnavailable, match="only 2 of 3 shards"):
        EsData("http://h:9200", client=stub).totals(F)


def test_from_the_agents_config_reads_its_data_stream_without_showing_secrets():
    from agent.shipping.config import ElasticsearchConfig

    c = ElasticsearchConfig(
        url="https://es:9200", username="u", password="pw-123", data_stream="logs-llm-prod"
    )
    data = EsData.from_config(c)
    assert data.info().location == "https://es:9200 logs-llm-*"
    assert "pw-123" not in repr(vars(data))  # only inside the client's transport
    with pytest.raises(ValueError, match="elasticsearch.url is not set"):
        EsData.from_config(ElasticsearchConfig())
