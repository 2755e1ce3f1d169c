"""bench/peers.py's pure parts: the targets of issue 22 judged on bootstrap intervals, the
figures of a scenario, the wall-time estimate, the command line, LiteLLM's config."""

from __future__ import annotations

import numpy as np
import pytest

from bench import peers, peers_litellm, peers_run
from bench.peers_report import Scenario, judge, render, rows, verdicts
from bench.shadow_stats import Batch, Interval

pytestmark = pytest.mark.unit

# target -> (latency scale, requests/s): direct 0.5 and floor 1.0 make the floor add 0.5
SHAPE = {"direct": (0.5, 2000.0), "floor": (1.0, 1000.0), "inferwatch": (1.2, 600.0),
         "litellm": (20.0, 20.0)}  # fmt: skip


def _scenario(label: str, stream: bool, targets=tuple(SHAPE), n_rounds: int = 4) -> Scenario:
    rng = np.random.default_rng(3)
    kept = []
    for _ in range(n_rounds):
        base = rng.lognormal(0, 0.01, 100)  # narrow: the intervals hug the ratios
        kept.append({
            t: Batch(list(base * SHAPE[t][0]), list(base * SHAPE[t][0]), [],
                     None if t == "direct" else SHAPE[t][0], elapsed_s=100 / SHAPE[t][1])
            for t in targets
        })  # fmt: skip
    return Scenario(label, int(label.split()[0][1:]), stream, kept)


def _all_rows(targets=tuple(SHAPE)):
    labels = [("c1 json", False), ("c1 stream", True), ("c32 json", False), ("c32 stream", True)]
    return [r for lab, s in labels for r in rows(_scenario(lab, s, targets), 200)]


def test_judged_on_where_the_interval_lies():
    assert judge(Interval(1.2, 1.0, 1.4), "<=", 1.5) == "met"
    assert judge(Interval(1.8, 1.6, 2.0), "<=", 1.5) == "not met"
    assert judge(Interval(1.5, 1.2, 1.8), "<=", 1.5).startswith("undecided")
    assert judge(Interval(30, 26, 34), ">=", 25) == "met"
    assert judge(Interval(20, 18, 24), ">=", 25) == "not met"
    assert judge(None, ">=", 25) == "no figure"


def test_every_target_of_the_issue_is_judged_with_its_ratio():
    got = verdicts(_all_rows(), high=32)
    assert len(got) == 10 and all(line.startswith("- met:") for line in got), got
    p50 = next(x for x in got if "added p50 at most 1.5x" in x and "(c1 json)" in x)
    assert "inferwatch/floor 1.40x [1.4" in p50  # (1.2-0.5)/(1.0-0.5)
    rps = next(x for x in got if "25x LiteLLM" in x and "(c32 stream)" in x)
    assert "inferwatch/litellm 30.00x" in rps


def test_without_litellm_its_targets_are_said_not_measured():
    got = verdicts(_all_rows(("direct", "floor", "inferwatch")), high=32)
    assert sum(line.startswith("- not measured:") for line in got) == 4
    assert sum(line.startswith("- met:") for line in got) == 6


def test_streamed_scenarios_time_the_first_chunk_and_the_table_has_every_column():
    text = render(_all_rows(), ["direct", "floor", "inferwatch", "litellm"], markdown=True)
    assert "| c1 stream | first chunk p99 ms |" in text and "| c1 json | latency p50 ms |" in text
    assert "inferwatch/floor [95% CI]" in text and "inferwatch/litellm [95% CI]" in text
    assert "| c32 json | requests/s | 2,000 | 1,000 | 600 | 20.000 |" in text


def test_the_defaults_fit_in_ten_minutes_and_small_sizes_are_labelled_smoke():
    args = peers.parse_args([])
    assert 180 < peers_run.estimate_s(args) <= 600 and not args.smoke
    assert peers.parse_args(["--rounds", "2"]).smoke


def test_bad_options_are_clear_errors(capsys):
    for argv, says in ((["--targets", "floor,envoy"], "unknown envoy"),
                       (["--targets", "inferwatch"], "must name the floor"),
                       (["--rounds", "1"], "at least 2")):  # fmt: skip
        with pytest.raises(SystemExit):
            peers.parse_args(argv)
        assert says in capsys.readouterr().err


def test_litellm_absent_is_a_clear_error_naming_setup(monkeypatch, capsys):
    monkeypatch.setattr(peers_litellm, "installed", lambda venv=None: None)
    assert peers.main(["--rounds", "2"]) == 2
    assert "python bench/peers.py --setup" in capsys.readouterr().err


def test_litellm_routes_one_model_to_the_upstream_with_logging_off():
    cfg = peers_litellm.config("http://127.0.0.1:9")
    model = cfg["model_list"][0]
    assert model["model_name"] == "instant"
    assert model["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"
    assert cfg["general_settings"] == {"disable_spend_logs": True, "disable_error_logs": True}
    assert cfg["litellm_settings"]["callbacks"] == []
