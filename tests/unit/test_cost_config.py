"""The `cost:` config section, prices, and per-tenant budgets."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_settings
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig, PriceBook

pytestmark = pytest.mark.unit


def test_defaults_price_common_gpus_and_cpu_out_of_the_box():
    book = PriceBook(CostConfig())
    assert book.price("NVIDIA H100 80GB HBM3").per_hour > 0
    assert (
        book.price("NVIDIA A100-SXM4-80GB").per_hour > book.price("NVIDIA A100-PCIE-40GB").per_hour
    )
    assert book.price("cpu-core").per_hour > 0
    assert book.price("Some Future GPU").per_hour > 0  # fallback, logged
    assert book.unmatched == {"Some Future GPU"}


def test_configured_price_overrides_the_default():
    cfg = CostConfig(prices={"H100": {"per_hour": 9.0, "includes_energy": False}})
    price = PriceBook(cfg).price("NVIDIA H100 80GB HBM3")
    assert price.per_hour == 9.0 and price.includes_energy is False


@pytest.mark.parametrize("bad", [-1, "cheap", float("nan"), float("inf")])
def test_a_bad_price_is_a_config_error_naming_the_device_type(bad):
    with pytest.raises(ConfigError) as err:
        load_settings(overrides={"cost": {"prices": {"NVIDIA L4": {"per_hour": bad}}}})
    assert "cost.prices.NVIDIA L4.per_hour" in str(err.value)


def test_unknown_keys_and_zero_weights_are_errors():
    with pytest.raises(ConfigError, match="cost.prise"):
        load_settings(overrides={"cost": {"prise": 1}})
    with pytest.raises(ConfigError, match="both be 0"):
        load_settings(overrides={"cost": {"weights": {"prefill": 0, "decode": 0}}})
    with pytest.raises(ConfigError, match="budget of tenant 'acme'"):
        load_settings(overrides={"cost": {"budgets": {"acme": -5}}})


def test_budget_crossing_is_one_event_per_tenant_per_day():
    now = [0.0]
    events = []
    b = Budgets({"acme": 1.0}, "USD", wall=lambda: now[0])
    b.subscribe(events.append)
    assert b.add("acme", 0.6) is None and b.add("other", 5.0) is None
    crossed = b.add("acme", 0.5)
    assert crossed is not None and crossed.spent == pytest.approx(1.1) and events == [crossed]
    assert b.add("acme", 1.0) is None  # already crossed today
    now[0] = 86400.0  # next UTC day starts from zero
    assert b.add("acme", 0.5) is None and b.ratio("acme") == pytest.approx(0.5)


def test_budget_spend_survives_a_restart_on_the_same_day_only():
    b = Budgets({"acme": 1.0}, "USD", wall=lambda: 100.0)
    b.add("acme", 0.7)
    again = Budgets({"acme": 1.0}, "USD", wall=lambda: 200.0)
    again.restore(b.state())
    assert again.ratio("acme") == pytest.approx(0.7)
    tomorrow = Budgets({"acme": 1.0}, "USD", wall=lambda: 90000.0)
    tomorrow.restore(b.state())
    assert tomorrow.ratio("acme") == 0.0
