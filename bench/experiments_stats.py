"""A/A false-positive rates and power of the experiment statistics, by simulation.

Run: PYTHONPATH=. python bench/experiments_stats.py [--experiments 2000] [--n 2000]

Distributions (each arm, per request): latency lognormal(mu=0, sigma=0.5) seconds; cost
lognormal(mu=0, sigma=1) (skewness 6.2: Welch holds at n=2000 by Cochran's rule); rates
Bernoulli(0.05). A/A: both arms from the same law; a test flags when p < 0.05. Power:
the variant's latency is lognormal(log 1.1, 0.5), every request 10% slower, so its p95 is
10% higher ("scale"); and, harder, lognormal(0, 0.5 + log(1.1)/1.645), p95 10% higher with
the median unchanged ("tail"). Sequential: a look after every 50 requests per arm up to
n, flagged when any look's always-valid p-value is under 0.05 (peeking as often as a
canary would); its power row moves the log-latency by log 1.1. Each rate is printed
with its Monte-Carlo standard error sqrt(r(1-r)/E).
tests/unit/test_experiments_simulation.py runs these same functions at smaller counts."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from alerts.experiments.latency import compare_latency, compare_quantile
from alerts.experiments.means import compare_mean
from alerts.experiments.rates import compare_rate
from alerts.experiments.sequential import SequentialConfig, sequence

ALPHA = 0.05
SIGMA = 0.5
TAIL_SIGMA = SIGMA + math.log(1.1) / 1.6448536269514722  # p95 x1.1, median unchanged
Arms = Callable[[np.random.Generator, int], tuple[NDArray[np.float64], NDArray[np.float64]]]


def mc_error(rate: float, experiments: int) -> float:
    """The Monte-Carlo standard error of a rate estimated over `experiments`."""
    return math.sqrt(rate * (1 - rate) / experiments)


def lognormal_arms(mu_v: float = 0.0, sigma_v: float = SIGMA, sigma_c: float = SIGMA) -> Arms:
    """Control lognormal(0, sigma_c) and variant lognormal(mu_v, sigma_v) samples."""

    def arms(g: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return g.lognormal(0.0, sigma_c, n), g.lognormal(mu_v, sigma_v, n)

    return arms


def flag_rate(
    test: Callable[..., object], arms: Arms, experiments: int, n: int, seed: int
) -> float:
    """The share of experiments in which `test(control, variant)` has p < ALPHA."""
    g = np.random.default_rng(seed)
    hits = 0
    for _ in range(experiments):
        result = test(*arms(g, n))
        p = getattr(result, "p_value", None)
        assert p is not None, result
        hits += p < ALPHA
    return hits / experiments


def latency_mw(c: NDArray[np.float64], v: NDArray[np.float64]) -> object:
    return compare_latency("latency", c, v)


def latency_p95(c: NDArray[np.float64], v: NDArray[np.float64]) -> object:
    return compare_quantile("latency", c, v, 0.95)


def cost_welch(c: NDArray[np.float64], v: NDArray[np.float64]) -> object:
    return compare_mean("cost", c, v)


def rate_arms(p: float = 0.05) -> Arms:
    """0/1 outcomes with success probability p in both arms."""

    def arms(g: np.random.Generator, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (g.random(n) < p).astype(np.float64), (g.random(n) < p).astype(np.float64)

    return arms


def rate_test(c: NDArray[np.float64], v: NDArray[np.float64]) -> object:
    return compare_rate("error_rate", (int(c.sum()), c.size), (int(v.sum()), v.size))


def sequential_flag_rate(
    draw: Callable[[np.random.Generator, tuple[int, int]], NDArray[np.float64]],
    experiments: int,
    n: int,
    every: int,
    seed: int,
    config: SequentialConfig,
    shift: float = 0.0,
) -> float:
    """A look after every `every` requests per arm: the share of experiments in which any
    look (from config.min_n on) gives an always-valid p-value under alpha. Both arms come
    from `draw`, the variant moved by `shift` (0: an A/A run)."""
    g = np.random.default_rng(seed)
    c, v = draw(g, (experiments, n)), draw(g, (experiments, n)) + shift
    ns = np.arange(every, n + 1, every)
    ns = ns[ns >= config.min_n]
    (mc, vc), (mv, vv) = _running(c, ns), _running(v, ns)
    var = vc / ns + vv / ns
    ok = var > 0  # no spread yet (a rate with no events): no look
    _, p = sequence(mv - mc, np.where(ok, var, 1.0), np.broadcast_to(2.0 * ns, var.shape), config)
    return float(np.mean(np.any(ok & (p < config.alpha), axis=1)))


def _running(
    x: NDArray[np.float64], ns: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Running mean and variance (ddof 1) of each row at the counts `ns`."""
    s1, s2 = np.cumsum(x, axis=1)[:, ns - 1], np.cumsum(x * x, axis=1)[:, ns - 1]
    mean = s1 / ns
    return mean, np.maximum(s2 - ns * mean**2, 0.0) / (ns - 1)


def log_latency(g: np.random.Generator, shape: tuple[int, int]) -> NDArray[np.float64]:
    """Latencies on the log scale the gate uses: normal(0, SIGMA)."""
    return g.normal(0.0, SIGMA, shape)


def raw_cost(g: np.random.Generator, shape: tuple[int, int]) -> NDArray[np.float64]:
    return g.lognormal(0.0, 1.0, shape)


def bernoulli(g: np.random.Generator, shape: tuple[int, int]) -> NDArray[np.float64]:
    return (g.random(shape) < 0.05).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=2000)
    ap.add_argument("--n", type=int, default=2000, help="requests per arm")
    args = ap.parse_args()
    e, n = args.experiments, args.n
    cfg = SequentialConfig(planned_n=2 * n)
    rows: list[tuple[str, Callable[[], float]]] = [
        ("A/A latency Mann-Whitney", lambda: flag_rate(latency_mw, lognormal_arms(), e, n, 1)),
        ("A/A latency p95 bootstrap", lambda: flag_rate(latency_p95, lognormal_arms(), e, n, 2)),
        (
            "A/A cost mean (Welch; bootstrap by rule)",
            lambda: flag_rate(
                cost_welch, lambda g, k: (g.lognormal(0, 1, k), g.lognormal(0, 1, k)), e, n, 3
            ),
        ),
        ("A/A error rate (chi2/Fisher)", lambda: flag_rate(rate_test, rate_arms(), e, n, 4)),
        (
            "A/A sequential log-latency, look/50",
            lambda: sequential_flag_rate(log_latency, e, n, 50, 5, cfg),
        ),
        ("A/A sequential cost, look/50", lambda: sequential_flag_rate(raw_cost, e, n, 50, 6, cfg)),
        (
            "A/A sequential error rate, look/50",
            lambda: sequential_flag_rate(bernoulli, e, n, 50, 7, cfg),
        ),
        (
            "power sequential log-latency +10%, look/50",
            lambda: sequential_flag_rate(log_latency, e, n, 50, 12, cfg, math.log(1.1)),
        ),
        (
            "power scale +10%: Mann-Whitney",
            lambda: flag_rate(latency_mw, lognormal_arms(math.log(1.1)), e, n, 8),
        ),
        (
            "power scale +10%: p95 bootstrap",
            lambda: flag_rate(latency_p95, lognormal_arms(math.log(1.1)), e, n, 9),
        ),
        (
            "power tail p95 +10%: p95 bootstrap",
            lambda: flag_rate(latency_p95, lognormal_arms(0.0, TAIL_SIGMA), e, n, 10),
        ),
        (
            "power tail p95 +10%: Mann-Whitney",
            lambda: flag_rate(latency_mw, lognormal_arms(0.0, TAIL_SIGMA), e, n, 11),
        ),
    ]
    print(f"{e} experiments, {n} requests per arm, alpha {ALPHA}")
    for name, run in rows:
        t = time.perf_counter()
        rate = run()
        print(
            f"{name:40s} {rate:6.1%} +- {mc_error(rate, e):5.1%}   ({time.perf_counter() - t:5.1f} s)"
        )


if __name__ == "__main__":
    main()
