"""`EsData` against the noida-db emulator of the Elasticsearch API (not Elasticsearch):
seeded records shipped as the agent ships them (its template installed by its own
`setup`, its documents made by its own conversion from the stored JSON, sent with the
official bulk helper), and every answer held to the same records as a frame."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import numpy as np
import orjson
import pandas as pd
import pytest
from elasticsearch import AsyncElasticsearch, Elasticsearch, helpers

from agent.record import SafetyVerdict
from agent.shipping.config import ElasticsearchConfig
from agent.shipping.ecs import DocContext, to_document
from agent.shipping.template import setup
from agent.store.rows import StoredRecord
from dashboards.data.api import REQUEST_COLUMNS, Filters, bin_of
from dashboards.data.es import EsData
from dashboards.data.es_safety import SEVERAL
from tests.dashboard_seed import frame_of, seed_records
from tests.es_emulator import EsEmulator

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

T0 = 1_700_000_040.0  # a whole minute
SPAN = 6 * 3600
N = 3000
MIXED = (
    SafetyVerdict("pii.email", "input", "redact", 1),
    SafetyVerdict("secret.aws_key", "output", "block", 2),
)


def records():
    """Seeded records; a few with two kinds of verdict, one with captured text."""
    recs = seed_records(N, T0, T0 + SPAN, seed=7)
    for i in (3, 500, 1700):
        recs[i] = dataclasses.replace(recs[i], safety=MIXED)
    recs[10] = dataclasses.replace(recs[10], prompt_text="hello [EMAIL]", completion_text="hi")
    return recs


def ship(url: str, recs) -> None:
    """Install the agent's template and ship `recs` as the agent's shipper would."""
    config = ElasticsearchConfig(url=url)

    async def install():
        async with AsyncElasticsearch(url) as es:
            await setup(es, config)

    asyncio.run(install())
    ctx = DocContext(host_name="node-1")
    actions = [
        {
            "_op_type": "create",
            "_index": config.data_stream,
            "_id": r.request_id,
            "_source": orjson.dumps(to_document(StoredRecord(orjson.dumps(r)), ctx, "final")),
        }
        for r in recs
    ]
    # One refresh at the end: the emulator slows down with a refresh after every chunk.
    with Elasticsearch(url, request_timeout=600) as es:
        ok, errors = helpers.bulk(es, actions, chunk_size=1000)
        es.indices.refresh(index=config.data_stream)
    assert ok == len(recs) and not errors


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """(EsData over the shipped records, their frame)."""
    recs = records()
    with EsEmulator(tmp_path_factory.mktemp("es")) as emu:
        ship(emu.url, recs)
        data = EsData(emu.url)
        yield data, frame_of(recs)
        data.close()


def select(df: pd.DataFrame, f: Filters) -> pd.DataFrame:
    keep = (df.wall_time >= f.start) & (df.wall_time < f.end)
    if f.models:
        keep &= df.model.isin(f.models)
    if f.tenants:
        keep &= df.tenant.isin(f.tenants)
    return df[keep]


def measures(df: pd.DataFrame) -> dict:
    """`api.MEASURES` of the frame's rows, computed from the records."""
    return {
        "requests": len(df),
        "errors": int((df.status != "ok").sum()),
        "input_tokens": int(df.prompt_tokens.fillna(0).sum()),
        "output_tokens": int(df.completion_tokens.fillna(0).sum()),
        "cost": df.cost_amount.fillna(0).sum(),
        "costed": int(df.cost_amount.notna().sum()),
        "device_seconds": df.cost_device_seconds.fillna(0).sum(),
        "joules": df.cost_joules.fillna(0).sum(),
        "safety_hits": int(df.safety_hits.sum()),
        "latency_sum": df.latency_s.sum(),
        "ttft_sum": df.ttft_s.fillna(0).sum(),
        "ttft_count": int(df.ttft_s.notna().sum()),
    }


def assert_measures(got: dict, want: dict) -> None:
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


RANGES = [
    Filters(T0, T0 + SPAN),
    Filters(T0 + 3600, T0 + 2 * 3600 + 1),  # widened to whole minutes
    Filters(T0 + 600, T0 + 5000, models=("qwen2-7b",)),
    Filters(T0, T0 + SPAN, tenants=("acme", "initech")),
    Filters(T0 + 120, T0 + 4 * 3600, models=("llama-3-8b",), tenants=("globex",)),
]


@pytest.mark.parametrize("f", RANGES)
def test_totals_match_the_records(seeded, f):
    data, df = seeded
    got = data.totals(f)
    assert len(got) == 1
    assert_measures(got.iloc[0].to_dict(), measures(select(df, f)))


@pytest.mark.parametrize(
    "by", ["tenant", "model", "status", "finish_reason", "error_type", "stream"]
)
def test_totals_by_a_dimension_match_the_records_ordered_by_cost(seeded, by):
    data, df = seeded
    f = RANGES[1]
    got = data.totals(f, by=by)
    rows = select(df, f).assign(key=lambda d: d[by].map(_key))
    want = {k: measures(g) for k, g in rows.groupby("key")}
    assert set(got.key) == set(want) and len(want) >= 2
    for _, row in got.iterrows():
        assert_measures(row.to_dict(), want[row.key])
    assert got.cost.is_monotonic_decreasing


def _key(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v).lower() if isinstance(v, bool) else str(v)


@pytest.mark.parametrize("f", RANGES[:3])
def test_timeseries_per_bucket_and_key_match_the_records(seeded, f):
    data, df = seeded
    step = 900
    got = data.timeseries(f, step, by="model")
    rows = select(df, f).assign(t=lambda d: (d.wall_time // step * step).astype(int))
    want = {(t, m): measures(g) for (t, m), g in rows.groupby(["t", "model"])}
    assert [(int(t), k) for t, k in zip(got.t, got.key, strict=True)] == sorted(want)
    for _, row in got.iterrows():
        assert_measures(row.to_dict(), want[(int(row.t), row.key)])
    plain = data.timeseries(f, step)
    assert plain.requests.sum() == len(rows) and plain.t.is_monotonic_increasing
    assert all(t % step == 0 for t in plain.t)


def test_values_are_every_value_in_the_range_whatever_is_chosen(seeded):
    data, df = seeded
    f = Filters(T0, T0 + 600, models=("qwen2-7b",), tenants=("acme",))
    rows = select(df, Filters(T0, T0 + 600))
    for dim in ("tenant", "model", "operation", "status", "finish_reason", "stream"):
        want = sorted({_key(v) for v in rows[dim]} - {""})
        assert data.values(dim, f) == want, dim


@pytest.mark.parametrize(
    "metric,column",
    [("latency", "latency_s"), ("ttft", "ttft_s"), ("tpot", "tpot_s"), ("cost", "cost_amount")],
)
@pytest.mark.parametrize("f", [RANGES[0], RANGES[2], RANGES[4]])
def test_quantiles_are_within_ten_percent_of_the_exact_ones(seeded, metric, column, f):
    data, df = seeded
    values = select(df, f)[column].dropna().to_numpy()
    got = data.quantiles(f, metric, qs=(0.5, 0.9, 0.99))
    assert got.q.tolist() == [0.5, 0.9, 0.99]
    for q, value in zip(got.q, got.value, strict=True):
        assert value == pytest.approx(np.quantile(values, q), rel=0.10), q


def test_quantiles_per_bucket_are_within_ten_percent(seeded):
    data, df = seeded
    f, step = RANGES[0], 3600
    got = data.quantiles(f, "latency", qs=(0.5, 0.95), step_s=step)
    rows = select(df, f).assign(t=lambda d: (d.wall_time // step * step).astype(int))
    assert sorted(set(got.t)) == sorted(set(rows.t))
    for _, row in got.iterrows():
        exact = np.quantile(rows[rows.t == row.t].latency_s, row.q)
        assert row.value == pytest.approx(exact, rel=0.10)


@pytest.mark.parametrize("metric,column", [("latency", "latency_s"), ("cost", "cost_amount")])
def test_histogram_counts_are_the_records_log_bins(seeded, metric, column):
    data, df = seeded
    f = RANGES[3]
    values = select(df, f)[column].dropna()
    want = values.map(bin_of).value_counts().sort_index()
    got = data.histogram(f, metric)
    assert got.low.is_monotonic_increasing and got["count"].sum() == len(values)
    assert [bin_of(low * 1.0001) for low in got.low] == want.index.tolist()
    assert got["count"].tolist() == want.tolist()


@pytest.mark.parametrize("step", [None, 3600])
def test_safety_hits_by_filter_direction_action_tenant(seeded, step):
    data, df = seeded
    f = RANGES[0]
    got = data.safety(f, step_s=step)
    want: dict = {}
    for _, r in select(df, f).iterrows():
        kinds = {(v.filter, v.direction, v.action) for v in r.safety}
        if len(kinds) > 1:  # two kinds of verdict: the document cannot split them
            kinds = {(SEVERAL, SEVERAL, SEVERAL)}
        for kind in kinds:
            key = (*kind, r.tenant) + ((int(r.wall_time // step * step),) if step else ())
            want[key] = want.get(key, 0) + int(r.safety_hits)
    cols = ["filter", "direction", "action", "tenant"] + (["t"] if step else [])
    assert {tuple(row[c] for c in cols): row.hits for _, row in got.iterrows()} == want
    assert any(k[0] == SEVERAL for k in want) and got.hits.sum() == select(df, f).safety_hits.sum()


@pytest.mark.parametrize(
    "order,column", [("newest", "wall_time"), ("cost", "cost_amount"), ("latency", "latency_s")]
)
def test_requests_are_the_first_by_the_order_asked(seeded, order, column):
    data, df = seeded
    f = RANGES[2]
    got = data.requests(f, order=order, limit=25)
    want = select(df, f).sort_values(column, ascending=False, na_position="last").head(25)
    assert list(got.columns) == list(REQUEST_COLUMNS)
    assert got.request_id.tolist() == want.request_id.tolist()
    first = want.iloc[0]
    for c in ("tenant", "model", "status", "prompt_tokens", "finish_reason", "safety_hits"):
        assert got.iloc[0][c] == first[c], c
    assert got.iloc[0].latency_s == pytest.approx(first.latency_s)


def test_requests_keep_only_the_statuses_asked(seeded):
    data, df = seeded
    got = data.requests(RANGES[0], statuses=("upstream_error",), limit=1000)
    want = select(df, RANGES[0])
    assert sorted(got.request_id) == sorted(want[want.status == "upstream_error"].request_id)
    assert len(got) > 10 and set(got.http_status) == {502}


def test_record_maps_the_document_back_to_the_record(seeded):
    data, df = seeded
    r = df.iloc[3]
    got = data.record(r.request_id)
    assert got["request_id"] == r.request_id and got["tenant"] == r.tenant
    assert got["wall_time"] == pytest.approx(r.wall_time, abs=1e-5)
    assert got["cost_amount"] == pytest.approx(r.cost_amount)
    assert got["safety_hits"] == 3 and got["safety_filters"] == ["pii.email", "secret.aws_key"]
    assert "prompt_text" not in got
    assert data.record(df.iloc[10].request_id)["prompt_text"] == "hello [EMAIL]"
    assert data.record("req-nope") is None


def test_info_names_the_url_and_pattern(seeded):
    data, _ = seeded
    assert data.info().kind == "elasticsearch"
    assert data.info().location == f"{data.url} logs-inferwatch-*"
