"""The Cost page's idle-cost panel under Streamlit's AppTest, on a store holding metric
snapshots written by the agent's own sampler: the idle cost and the idle share shown are
the counters' increases over the range."""

from __future__ import annotations

import pandas as pd
import pytest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from streamlit.testing.v1 import AppTest

from agent.store.config import StoreConfig
from agent.store.samples import Sampler
from dashboards.views.cost_idle import IDLE, METERED, spend

pytestmark = pytest.mark.unit

NOW = 1_800_000_000  # a multiple of 60
LABELS = ["device_type", "currency"]


def families(i: int) -> list:
    """The i-th snapshot (every 30 s): the machine costs 0.02 a snapshot, a quarter idle."""
    metered = CounterMetricFamily("inferwatch_cost_metered", "m", labels=LABELS)
    metered.add_metric(["cpu-core", "USD"], 0.02 * i)
    idle = CounterMetricFamily("inferwatch_cost_idle", "i", labels=LABELS)
    idle.add_metric(["cpu-core", "USD"], 0.005 * i)
    util = GaugeMetricFamily(
        "inferwatch_cost_device_utilization_ratio", "u", labels=["device_id", "device_type"]
    )
    util.add_metric(["cpu", "cpu-core"], 0.75)
    return [metered, idle, util]


@pytest.fixture
def store(tmp_path):
    it = iter(range(21))
    sampler = Sampler(StoreConfig(dir=tmp_path), lambda: families(next(it)))
    for k in range(21):
        assert sampler.once(now=NOW - 600 + 30 * k)
    return tmp_path / "requests.sqlite3"


def panel(path, series=True) -> AppTest:
    def script(path, series):
        from types import SimpleNamespace

        from agent.config import load_settings
        from dashboards.data.api import Filters
        from dashboards.data.series_store import StoreSeries
        from dashboards.views import cost_idle

        app = SimpleNamespace(settings=load_settings())
        ctx = SimpleNamespace(
            filters=Filters(1_800_000_000 - 600, 1_800_000_000),
            step_s=60,
            series=StoreSeries(path) if series else None,
            app=app,
        )
        cost_idle.render(ctx)

    return AppTest.from_function(
        script, kwargs={"path": str(path), "series": series}, default_timeout=30
    ).run()


def test_idle_cost_and_share_are_the_counters_increases(store):
    at = panel(store)
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    # 10 one-minute steps (the first's rate from its own two snapshots: an agent started
    # in it), 0.005 idle per 30 s = 0.1 idle of 0.4 metered.
    assert shown == {"Idle cost in range": "$0.100", "Idle share of the machine's cost": "25.0%"}
    assert len(at.get("plotly_chart")) == 2


def test_without_a_metric_source_the_panel_says_what_it_needs(store):
    at = panel(store, series=False)
    assert not at.exception
    assert "needs the agent's metric snapshots" in at.info[0].value


def test_a_store_without_snapshots_says_so(tmp_path):
    at = panel(tmp_path / "requests.sqlite3")
    assert not at.exception
    assert at.info and not at.metric


def test_spend_splits_metered_into_idle_and_attributed():
    rates = pd.DataFrame(
        {
            "t": [60, 60, 120, 120],
            "name": [METERED, IDLE, METERED, IDLE],
            "value": [1.0, 0.25, 2, 0],
        }
    )
    got = spend(rates, 60)
    assert got.to_dict("list") == {
        "t": [60, 120],
        "metered": [60.0, 120.0],
        "idle": [15.0, 0.0],
        "attributed": [45.0, 120.0],
    }


def test_a_week_at_hour_steps_has_idle_cost_from_ten_minutes_of_snapshots(store):
    from dashboards.data.series_store import StoreSeries

    # A new agent's first ten minutes inside one hour-long step: the rate comes from that
    # step's own first and last snapshot (there is none in the step before).
    rows = StoreSeries(store).series((IDLE, METERED), NOW - 7 * 86400, NOW, 3600)
    rates = dict(zip(rows["name"], rows["value"], strict=True))
    assert rates == pytest.approx({IDLE: 0.005 / 30, METERED: 0.02 / 30})
