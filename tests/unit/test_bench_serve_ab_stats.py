"""bench/serve_ab_stats.py: the paired ratio and its interval, against figures worked by hand."""

import math
import statistics

import pytest

from bench.serve_ab_stats import RatioCI, done, paired_ratio, spread, verdict

pytestmark = pytest.mark.unit


def test_equal_ratios_give_a_zero_width_interval_at_that_ratio():
    ci = paired_ratio([100.0, 200.0, 50.0], [99.0, 198.0, 49.5])
    assert ci is not None
    assert ci.point == pytest.approx(0.99)
    assert ci.low == pytest.approx(0.99) and ci.high == pytest.approx(0.99)
    assert ci.n == 3


def test_interval_is_student_t_on_the_log_ratios():
    # log ratios ln(1.02) and ln(0.98): mean m, sd s, t(0.975, 1) = 12.706
    ci = paired_ratio([100.0, 100.0], [102.0, 98.0])
    logs = [math.log(1.02), math.log(0.98)]
    m = sum(logs) / 2
    s = abs(logs[0] - logs[1]) / math.sqrt(2)
    half = 12.7062047 * s / math.sqrt(2)
    assert ci.point == pytest.approx(math.exp(m))
    assert ci.low == pytest.approx(math.exp(m - half), rel=1e-6)
    assert ci.high == pytest.approx(math.exp(m + half), rel=1e-6)


def test_too_few_or_unusable_pairs_give_no_interval():
    assert paired_ratio([100.0], [99.0]) is None
    assert paired_ratio([100.0, 0.0], [99.0, 1.0]) is None
    with pytest.raises(ValueError, match="2 direct rounds against 1"):
        paired_ratio([1.0, 2.0], [1.0])


def test_verdict_reads_the_whole_interval():
    assert verdict(RatioCI(0.995, 0.991, 0.999, 10), 0.99) == "met"
    assert verdict(RatioCI(0.98, 0.975, 0.985, 10), 0.99) == "not met"
    assert verdict(RatioCI(0.99, 0.985, 0.995, 10), 0.99).startswith("undecided")
    assert verdict(None, 0.99).startswith("undecided")


def test_done_needs_both_the_pairs_and_the_width():
    narrow = RatioCI(1.0, 0.995, 1.005, 12)
    assert done(narrow, 10, 0.01)
    assert not done(narrow, 20, 0.01)
    assert not done(RatioCI(1.0, 0.97, 1.03, 40), 10, 0.01)
    assert not done(None, 2, 0.01)
    assert narrow.half_width == pytest.approx(0.005)


def test_spread_names_the_single_pairs_and_the_pairs_needed_for_one_percent():
    line = spread([100.0] * 4, [90.0, 100.0, 100.0, 110.0])
    assert "min 0.900" in line and "max 1.100" in line
    sd = statistics.stdev([math.log(0.9), 0.0, 0.0, math.log(1.1)])
    assert f"sd of the log ratios {sd:.3f}" in line
    assert f"about {math.ceil((1.96 * sd / 0.01) ** 2)} pairs" in line
