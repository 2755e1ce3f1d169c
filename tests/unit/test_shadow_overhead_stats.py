"""bench/shadow_overhead.py's pure parts: the ratio and its two-stage bootstrap interval
(bench/shadow_stats.py), and the rotation of the agents' order from round to round."""

from __future__ import annotations

import numpy as np
import pytest

from bench.shadow_run import experiment, order
from bench.shadow_stats import Batch, compare

pytestmark = pytest.mark.unit


def _rounds(scale: dict[str, float], n_rounds: int = 6, seed: int = 1) -> list[dict[str, Batch]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_rounds):
        base = rng.lognormal(0, 0.3, 200)
        out.append(
            {
                t: Batch(
                    list(base * s), list(base * s / 2), [0.05] * 200, None if t == "direct" else s
                )
                for t, s in scale.items()
            }
        )
    return out


def test_identical_agents_give_one_and_a_doubled_agent_two_with_intervals_to_match():
    rows = compare("x", _rounds({"direct": 0.5, "off": 1.0, "same": 1.0, "slow": 2.0}), "off", 300)
    by = {r.name: r for r in rows}
    p99 = by["latency p99 ms"].ratios
    assert p99["same"].point == pytest.approx(1.0) and p99["same"].holds_one
    assert p99["slow"].point == pytest.approx(2.0) and p99["slow"].low > 1.5
    assert by["agent CPU ms/request"].ratios["slow"].point == pytest.approx(2.0)
    assert np.isnan(by["agent CPU ms/request"].values["direct"])
    assert by["added p50 ms"].ratios["slow"].point == pytest.approx(3.0)  # (2-0.5)/(1-0.5)


def test_each_agent_takes_each_slot_once_per_cycle_after_direct():
    targets = ["direct", "off", "after", "parallel"]
    orders = [order(targets, r) for r in range(3)]
    assert all(o[0] == "direct" for o in orders)
    assert [o[1] for o in orders] == ["off", "after", "parallel"]


def test_only_shadow_configs_have_an_experiment():
    assert experiment("off", 16) == [] and experiment("off2", 16) == []
    (exp,) = experiment("parallel", 8)
    assert exp["kind"] == "shadow" and exp["shadow"] == {
        "fraction": 1.0,
        "mode": "parallel",
        "max_in_flight": 8,
    }
