"""The experiment statistics proven by simulation: A/A experiments (both arms from one
law) are flagged at no more than the nominal 5% (+1 point), with a look after every 50
requests for the sequential test; a 10% latency regression is found with >= 80% power at
2,000 requests per arm. The distributions are bench/experiments_stats.py's.

Counts and Monte-Carlo error (standard error sqrt(r(1-r)/E)): every A/A run uses
E = 2,000 experiments of 2,000 requests per arm, so a true 5% rate is estimated within
0.49 points (one SE); the bound 6% sits two SEs above 5%. Power runs with E = 500 for
Mann-Whitney (SE 1.8 points at 80%; its power is near 100%) and E = 2,000 for the p95
bootstrap (SE 0.9 points). The seeds are fixed, so every run gives the same figures.
`python bench/experiments_stats.py` runs the full-size set, including the harder
cases reported but not held here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.experiments.sequential import SequentialConfig
from bench import experiments_stats as sim

pytestmark = pytest.mark.simulation

E, N = 2000, 2000
NOMINAL_PLUS_ONE = 0.06


def test_aa_latency_mann_whitney_flags_at_the_nominal_rate():
    rate = sim.flag_rate(sim.latency_mw, sim.lognormal_arms(), E, N, seed=1)
    assert 0.04 <= rate <= NOMINAL_PLUS_ONE


def test_aa_latency_p95_bootstrap_flags_at_most_the_nominal_rate():
    assert sim.flag_rate(sim.latency_p95, sim.lognormal_arms(), E, N, seed=2) <= NOMINAL_PLUS_ONE


def test_aa_cost_welch_flags_at_the_nominal_rate():
    """Costs lognormal(0, 0.75): skewness 2.9, so Cochran's rule keeps Welch at n = 2000."""
    arms = sim.lognormal_arms(0.0, 0.75, 0.75)
    assert 0.04 <= sim.flag_rate(sim.cost_welch, arms, E, N, seed=3) <= NOMINAL_PLUS_ONE


def test_aa_error_rate_test_flags_at_the_nominal_rate():
    assert (
        0.04 <= sim.flag_rate(sim.rate_test, sim.rate_arms(0.05), E, N, seed=4) <= NOMINAL_PLUS_ONE
    )


@pytest.mark.parametrize("draw", [sim.log_latency, sim.raw_cost, sim.bernoulli])
def test_aa_sequential_with_a_look_every_50_requests_stays_under_the_nominal_rate(draw):
    cfg = SequentialConfig(planned_n=2 * N)
    rate = sim.sequential_flag_rate(draw, E, N, every=50, seed=5, config=cfg)
    assert rate <= NOMINAL_PLUS_ONE


def test_sequential_without_the_correction_would_peek_itself_into_false_positives():
    """The check above can fail: the same looks judged by the fixed-horizon z test (p from
    the normal law at each look) flag far more than 5% of A/A experiments."""
    g = np.random.default_rng(5)
    c, v = sim.log_latency(g, (E, N)), sim.log_latency(g, (E, N))
    ns = np.arange(100, N + 1, 50)
    (mc, vc), (mv, vv) = sim._running(c, ns), sim._running(v, ns)
    z = np.abs(mv - mc) / np.sqrt(vc / ns + vv / ns)
    assert np.mean(np.any(z > 1.96, axis=1)) > 0.15


def test_power_for_a_10_percent_latency_regression_is_at_least_80_percent():
    """Every request 10% slower (lognormal(log 1.1, 0.5) against lognormal(0, 0.5)), so
    its p95 is 10% higher: Mann-Whitney, the latency test, finds it nearly always."""
    slower = sim.lognormal_arms(math.log(1.1))
    assert sim.flag_rate(sim.latency_mw, slower, 500, N, seed=8) >= 0.80


def test_the_p95_bootstrap_alone_keeps_its_measured_power():
    """The p95 difference tested alone has less power: 79.5% +- 0.9 at E = 2,000 (bench),
    short of 80%, as the asymptotic variance of a sample p95 predicts (about 81%). This
    holds it near that figure (3 SEs below) against a regression of the estimator; it is
    not the 80% claim, which Mann-Whitney carries."""
    slower = sim.lognormal_arms(math.log(1.1))
    assert sim.flag_rate(sim.latency_p95, slower, E, N, seed=9) >= 0.765
