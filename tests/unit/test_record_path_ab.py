"""The base/head benchmark's pure parts (bench/record_path_ab.py and its bench/ab_*.py):
per-batch figures, the paired head-versus-base spread, the rows, the table, the round order,
the request body and the command line."""

from __future__ import annotations

import orjson
import pytest

from bench.ab_load import chat_body
from bench.ab_rounds import groups, order
from bench.ab_stats import Batch, Sample, Scenario, cpu_ms_per_request, latency_ms, overhead_ms
from bench.ab_stats import paired as paired_spread
from bench.ab_table import fmt_spread, render, scenario_rows

pytestmark = pytest.mark.unit


def _batch(totals_ms: list[float], cpu_s: float | None = None, overhead=None) -> Batch:
    samples = [Sample(int(t * 1e6), int(t * 1e6 / 2), overhead) for t in totals_ms]
    return Batch(samples, cpu_s)


def test_batch_figures_are_percentiles_in_ms_cpu_per_request_and_the_header_median():
    b = _batch([float(i) for i in range(1, 102)], cpu_s=0.202, overhead=0.25)
    assert latency_ms(b, 50) == pytest.approx(51.0)
    assert latency_ms(b, 99) == pytest.approx(100.0)
    assert latency_ms(b, 50, first_chunk=True) == pytest.approx(25.5)
    assert cpu_ms_per_request(b) == pytest.approx(2.0)
    assert overhead_ms(b) == 0.25
    assert cpu_ms_per_request(_batch([1.0])) is None
    assert overhead_ms(_batch([1.0])) is None


def test_paired_gives_median_and_range_of_per_round_ratios_or_differences():
    s = paired_spread([1.0, 2.0, 4.0], [1.1, 2.0, 2.0])
    assert (s.median, s.low, s.high) == pytest.approx((1.0, 0.5, 1.1))
    d = paired_spread([1.0, 2.0, 4.0], [1.5, 1.0, 4.25], diff=True)
    assert (d.median, d.low, d.high) == pytest.approx((0.25, -1.0, 0.5))


def test_paired_leaves_out_rounds_without_a_ratio_and_refuses_unpaired_rounds():
    s = paired_spread([0.0, -1.0, 2.0], [5.0, 5.0, 3.0])
    assert (s.median, s.low, s.high) == pytest.approx((1.5, 1.5, 1.5))
    assert paired_spread([0.0], [1.0]) is None
    with pytest.raises(ValueError, match="unpaired rounds: 2 base, 1 head"):
        paired_spread([1.0, 2.0], [1.0])


def test_spread_formats_a_ratio_and_a_signed_difference():
    s = paired_spread([1.0, 1.0], [0.95, 1.10])
    assert fmt_spread(s, diff=False) == "1.02x (0.95..1.10)"
    d = paired_spread([0.0, 0.0], [-0.05, 0.08], diff=True)
    assert fmt_spread(d, diff=True) == "+0.015 ms (-0.050..+0.080)"
    assert fmt_spread(None, diff=True) == "-"


def _scenario() -> Scenario:
    s = Scenario("instant", 8, stream=True)
    s.rounds = [
        {
            "direct": _batch([1.0] * 10),
            "base": _batch([2.0] * 10, 0.010, 0.1),
            "head": _batch([3.0] * 10, 0.020, 0.2),
        },
        {
            "direct": _batch([2.0] * 10),
            "base": _batch([3.0] * 10, 0.010, 0.1),
            "head": _batch([3.5] * 10, 0.030, 0.1),
        },
    ]
    return s


def test_rows_hold_medians_over_rounds_and_head_vs_base_per_round():
    rows = {r.name: r for r in scenario_rows(_scenario())}
    assert list(rows)[:3] == ["latency p50 ms", "latency p99 ms", "first chunk p50 ms"]
    p50 = rows["latency p50 ms"]
    assert p50.scenario == "instant c8 stream"
    assert p50.values == pytest.approx({"direct": 1.5, "base": 2.5, "head": 3.25})
    assert (p50.compare.low, p50.compare.high) == pytest.approx((3.5 / 3, 1.5))
    added = rows["added p50 ms (vs direct, same round)"]
    assert added.values["direct"] is None
    assert added.values["base"] == pytest.approx(1.0)
    assert (added.compare.median, added.compare.low, added.compare.high) == pytest.approx(
        (0.75, 0.5, 1.0)
    )
    cpu = rows["agent CPU ms/request"]
    assert cpu.values == pytest.approx({"direct": None, "base": 1.0, "head": 2.5})
    assert (cpu.compare.median, cpu.compare.low, cpu.compare.high) == pytest.approx((2.5, 2, 3))
    header = rows["overhead header p50 ms"]
    assert header.diff and header.compare.median == pytest.approx(0.05)


def test_json_scenarios_have_no_first_chunk_row():
    s = _scenario()
    s.stream = False
    names = [r.name for r in scenario_rows(s)]
    assert "first chunk p50 ms" not in names and len(names) == 7


def test_failed_requests_are_counted_per_target_with_the_first_reason_and_cost_cpu():
    s = _scenario()
    s.rounds[1]["head"].errors = ["HTTP 502: upstream unavailable", "HTTP 502: again"]
    s.rounds[0]["base"].errors = ["HTTP 504"]
    failed = scenario_rows(s)[-1]
    assert failed.name == "failed requests, all rounds"
    assert failed.cells()[2:] == ["0.000", "1.000", "2.000", "first: base: HTTP 504"]
    assert cpu_ms_per_request(s.rounds[1]["head"]) == pytest.approx(2.5)  # 30 ms / 12
    assert scenario_rows(_scenario())[-1].cells()[-1] == "-"


def test_table_renders_as_markdown_and_as_aligned_text():
    rows = scenario_rows(_scenario())
    md = render(rows, markdown=True).splitlines()
    assert md[0].startswith("| scenario | figure | direct | base | head | head vs base")
    assert md[1] == "|---|---|---|---|---|---|"
    row = "| instant c8 stream | latency p50 ms | 1.500 | 2.500 | 3.250 | 1.33x (1.17..1.50) |"
    assert md[2] == row
    text = render(rows, markdown=False).splitlines()
    assert len(text) == len(rows) + 1
    assert text[0].index("figure") == text[1].index("latency p50 ms")
    assert "+0.750 ms (+0.500..+1.000)" in text[4]


def test_rounds_start_with_direct_and_alternate_base_and_head():
    assert [order(r) for r in range(3)] == [
        ["direct", "base", "head"],
        ["direct", "head", "base"],
        ["direct", "base", "head"],
    ]


def test_a_round_runs_targets_one_by_one_or_all_in_one_mixed_batch():
    assert groups(1, mixed=False) == [["direct"], ["head"], ["base"]]
    assert groups(1, mixed=True) == [["direct", "head", "base"]]


def test_chat_body_asks_for_exactly_max_tokens_and_usage_on_streams():
    body = orjson.loads(chat_body("tiny", stream=True, max_tokens=32))
    assert body["model"] == "tiny" and body["max_tokens"] == 32 and body["ignore_eos"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in orjson.loads(chat_body("tiny", False, 16))
