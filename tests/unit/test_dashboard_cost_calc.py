"""The cost panels' arithmetic (dashboards/views/cost_calc.py) and the shared formatting
(dashboards/ui/fmt.py), on hand-made aggregates with answers worked out by hand."""

from __future__ import annotations

import calendar
import math

import numpy as np
import pandas as pd
import pytest

from agent.cost.config import HostedPrice
from alerts.cost.config import BudgetConfig
from dashboards.ui import fmt
from dashboards.views import cost_calc

pytestmark = pytest.mark.unit

NOW = calendar.timegm((2026, 12, 10, 12, 0, 0))  # noon UTC, day 10 of 31


def test_rates_are_the_median_of_equal_parts_with_empty_minutes_as_zero():
    # 60 minutes: 1.0 spent in each of the first 30 and nothing in the last 30 (absent
    # rows); 6 parts of 10 minutes: rates 1/60 x3 and 0 x3, median 1/120 per second.
    t = np.arange(30) * 60.0 + (NOW - 3600)
    series = pd.DataFrame({"t": t, "cost": 1.0})
    got = cost_calc.rates(series, NOW - 3600, NOW, 6)
    assert got == {"": pytest.approx(1 / 120)}


def test_rates_per_key_and_a_burst_does_not_set_the_rate():
    t = np.arange(60) * 60.0 + (NOW - 3600)
    steady = pd.DataFrame({"t": t, "key": "acme", "cost": 0.6})
    burst = pd.DataFrame({"t": [NOW - 60], "key": ["globex"], "cost": [100.0]})
    got = cost_calc.rates(pd.concat([steady, burst]), NOW - 3600, NOW, 6)
    assert got["acme"] == pytest.approx(0.01)
    assert got["globex"] == 0.0  # one burst in one of six parts: the median is 0


def test_rates_of_nothing():
    assert cost_calc.rates(pd.DataFrame(columns=["t", "cost"]), NOW - 60, NOW, 6) == {}


def test_projected_adds_rate_times_time_left_and_never_goes_back():
    assert cost_calc.projected(10.0, 0.5, NOW, NOW + 100) == 60.0
    assert cost_calc.projected(10.0, 0.5, NOW, NOW - 100) == 10.0


def test_budget_table_uses_each_budgets_own_period():
    budgets = [
        BudgetConfig(tenant="acme", period="day", amount=100.0),
        BudgetConfig(tenant="acme", period="month", amount=1000.0),
        BudgetConfig(tenant="globex", period="day", amount=10.0),
    ]
    spent = {"acme": 50.0}  # the same spend dict for both periods: the caller's choice
    rate = {"acme": 1 / 864}  # 100 per day
    table = cost_calc.budget_table(budgets, spent, rate, NOW)
    day, month, globex = table.to_dict("records")
    assert day["used"] == 0.5 and day["forecast"] == pytest.approx(50 + 50)  # half a day left
    left_month = calendar.timegm((2027, 1, 1, 0, 0, 0)) - NOW
    assert month["forecast"] == pytest.approx(50 + left_month / 864)
    assert globex["spent"] == 0 and globex["forecast"] == 0 and globex["used"] == 0


def test_per_million_total_and_the_split_by_work_weights():
    # 1000 input at weight 0.04 = 40 work; 160 output at weight 1 = 160 work; cost 2.0:
    # input gets 2 x 40/200 = 0.4 over 1000 tokens, output 1.6 over 160.
    got = cost_calc.per_million(2.0, 1000, 160, 0.04, 1.0)
    assert got.total == pytest.approx(2.0 / 1160 * 1e6)
    assert got.input == pytest.approx(0.4 / 1000 * 1e6)
    assert got.output == pytest.approx(1.6 / 160 * 1e6)


def test_per_million_without_tokens_is_unknown_not_infinite():
    assert cost_calc.per_million(1.0, 0, 0, 0.04, 1.0) == cost_calc.PerMillion(None, None, None)
    assert cost_calc.per_million(1.0, 10, 0, 0.04, 1.0).output is None


def test_hosted_comparison_prices_only_models_with_a_list_price():
    by_model = pd.DataFrame(
        {
            "key": ["a", "b"],
            "input_tokens": [2_000_000, 5],
            "output_tokens": [500_000, 5],
            "cost": [1.0, 9.0],
        }
    )
    prices = {"a": HostedPrice(input_per_1m=0.5, output_per_1m=2.0)}
    got = cost_calc.hosted_comparison(by_model, prices).to_dict("records")
    assert got == [
        {
            "model": "a",
            "input_tokens": 2_000_000,
            "output_tokens": 500_000,
            "measured": 1.0,
            "hosted": 2.0,
            "ratio": 0.5,
        }
    ]


def test_burn_down_is_cumulative_counted_at_bucket_ends():
    series = pd.DataFrame(
        {"t": [0.0, 3600.0, 7200.0], "key": ["acme", "acme", "globex"], "cost": [1.0, 2.0, 4.0]}
    )
    got = cost_calc.burn_down(series, ["acme", "initech"], 0.0, 3600, now=5000.0)
    acme = got[got["tenant"] == "acme"]
    assert acme["t"].tolist() == [0.0, 3600.0, 5000.0]  # the running bucket ends at now
    assert acme["spent"].tolist() == [0.0, 1.0, 3.0]
    assert got[got["tenant"] == "initech"]["spent"].tolist() == [0.0, 0.0]


def test_change_is_relative_and_unknown_from_zero():
    assert cost_calc.change(15.0, 10.0) == 0.5
    assert cost_calc.change(1.0, 0.0) is None
    assert cost_calc.change(None, 1.0) is None


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1234.5, "USD", "$1,234.50"),
        (0.000123456, "USD", "$0.000123"),
        (0.0754321, "USD", "$0.0754"),
        (0.5, "USD", "$0.500"),
        (0.0, "EUR", "€0.00"),
        (-2.5, "USD", "-$2.50"),
        (3.0, "CHF", "3.00 CHF"),
        (None, "USD", "–"),
        (math.nan, "USD", "–"),
    ],
)
def test_money(amount, currency, text):
    assert fmt.money(amount, currency) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.85, "850 ms"), (0.0042, "4.20 ms"), (2.345, "2.35 s"), (300, "5.0 min"), (None, "–")],
)
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


def test_count_share_and_when():
    assert fmt.count(12345.4) == "12,345"
    assert fmt.share(0.125) == "12.5%"
    assert fmt.share(None) == "–"
    assert [fmt.span(s) for s in (86400, 7 * 86400, 21600, 900)] == [
        "1 day",
        "7 days",
        "6 h",
        "15 min",
    ]
    assert fmt.when(NOW) == "2026-12-10 12:00:00 UTC"
