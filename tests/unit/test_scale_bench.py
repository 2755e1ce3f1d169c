"""The scale-out simulation's pure parts: the traffic mix, the relay's byte count, the
growth table's ratios, series grouping, the Prometheus block reader, the command line."""

from __future__ import annotations

import json
import random

import pytest

from bench.scale_measure import block_stats
from bench.scale_out import parse_args
from bench.scale_relay import Relay
from bench.scale_report import Step, growth_table, per_sidecar, series_groups
from bench.scale_traffic import EMAIL, MODELS, SECRET, Mix, request

pytestmark = pytest.mark.unit


def _step(agents: int, **over) -> Step:
    base = dict(
        agents=agents,
        series=1000.0 * agents,
        head_series=1000.0 * agents + 5,
        samples_per_scrape=1000.0 * agents,
        scrape_s_avg=0.01,
        scrape_s_max=0.02,
        page_raw=100_000.0,
        page_gzip=5_000.0,
        prom_rss=100 * 2**20 * agents,
        requests=60,
        es_docs=60 * agents,
        es_store_bytes=60_000 * agents,
        bulk_bytes=120_000 * agents,
        bulk_docs=60 * agents,
        lag_max_s=1.0,
        drain_s=float("nan"),
    )
    return Step(**(base | over))


def test_mix_goes_past_the_tenant_cap_and_holds_every_kind_of_request():
    rng, mix = random.Random(1), Mix(tenants=60)
    reqs = [request(i, rng, mix) for i in range(4000)]
    tenants = {h["x-tenant-id"] for _, _, h in reqs}
    assert len(tenants) == 60  # more than the agent's default cap of 50
    assert {b["model"] for _, b, _ in reqs} == set(MODELS)
    assert {p for p, _, _ in reqs} == {"/v1/chat/completions", "/v1/completions"}
    streamed = sum(bool(b.get("stream")) for _, b, _ in reqs)
    errors = sum("x-fake-status" in h for _, _, h in reqs)
    assert 0.3 < streamed / len(reqs) < 0.5 and 0.01 < errors / len(reqs) < 0.06
    texts = [str(b.get("prompt") or b["messages"][0]["content"]) for _, b, _ in reqs]
    assert EMAIL in texts and SECRET in texts


def test_relay_counts_bulk_bodies_and_their_documents():
    relay = Relay("http://127.0.0.1:9")
    body = b'{"create":{}}\n{"a":1}\n{"create":{}}\n{"a":2}\n'
    # The counting step alone: its public way in is the relay served on a port (no
    # servers in the unit tier).
    relay._count(body)
    relay._count(body)
    assert (relay.bulk.requests, relay.bulk.body_bytes, relay.bulk.docs) == (2, 2 * len(body), 4)


def test_growth_table_gives_each_figure_its_ratio_to_the_first_row():
    table = growth_table([_step(1), _step(4, scrape_s_avg=0.03)])
    last = table.splitlines()[-1]
    assert "| 4 | 4,000 (4.00x) |" in last
    assert "0.030 (3.00x)" in last
    assert "n/a" in last  # a drain that never finished is not a number


def test_per_sidecar_divides_by_the_fleet_and_the_documents():
    figures = per_sidecar([_step(1), _step(8)])
    assert figures["series per agent"] == 1000.0
    assert figures["bulk bytes per document (sent)"] == 2000.0


def test_series_groups_sorts_a_page_by_metric_prefix():
    page = (
        "# TYPE gen_ai_client_token_usage histogram\n"
        'gen_ai_client_token_usage_bucket{le="1"} 1\n'
        'gen_ai_client_token_usage_bucket{le="+Inf"} 1\n'
        "# TYPE hw_gpu_power_draw_watts gauge\n"
        'hw_gpu_power_draw_watts{gpu="0"} 250\n'
        "# TYPE inferwatch_upstream_up gauge\n"
        "inferwatch_upstream_up 1\n"
        "# TYPE inferwatch_requests_total counter\n"
        'inferwatch_requests_total{tenant="a"} 1\n'
        "# TYPE inferwatch_requests_in_flight gauge\n"
        "inferwatch_requests_in_flight 0\n"
        "# TYPE inferwatch_tenant_time_to_first_token_seconds histogram\n"
        'inferwatch_tenant_time_to_first_token_seconds_count{tenant="a"} 1\n'
    )
    groups = series_groups(page)
    assert groups["requests (gen_ai_*, per tenant)"] == 4
    assert groups["GPUs (hw_gpu, gpu, DCGM)"] == 1
    assert groups["agent and process"] == 2  # up, and in flight (not a request counter)


def test_block_stats_reads_meta_and_chunk_sizes(tmp_path):
    assert block_stats(tmp_path) is None
    block = tmp_path / "01ABC"
    (block / "chunks").mkdir(parents=True)
    (block / "chunks" / "000001").write_bytes(b"x" * 300)
    (block / "index").write_bytes(b"i" * 100)
    stats = {"numSamples": 150, "numSeries": 10}
    (block / "meta.json").write_text(json.dumps({"stats": stats}))
    got = block_stats(tmp_path)
    assert got["samples"] == 150 and got["chunk_bytes"] == 300
    assert got["block_bytes"] == 300 + 100 + len((block / "meta.json").read_bytes())


@pytest.mark.parametrize("bad", [["--steps", "4,2"], ["--steps", "0,1"], ["--gpus", "9"]])
def test_command_line_refuses_bad_input(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(bad)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_command_line_defaults_are_the_documented_fleet_sizes():
    args = parse_args([])
    assert args.sizes == [1, 2, 4, 8, 16] and args.warmup and args.gpus == 8
