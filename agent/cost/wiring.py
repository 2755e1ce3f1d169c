"""Building the cost stage from settings: `build_cost_stage` is the one entry point."""

from __future__ import annotations

import logging

from agent.config import Settings
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig
from agent.cost.metrics import CostMetrics
from agent.cost.stage import CostStage
from agent.labels import LabelCap
from agent.tenancy import known_tenants

log = logging.getLogger("inferwatch.cost")

_SPREAD_OF_TICK = 0.75  # default release spread, of the collector interval: done before the next
_SPREAD_MAX_S = 10.0  # ... and at most this: a record reaches the store soon after its cost


def build_cost_stage(
    settings: Settings, instruments: dict, model_labels: LabelCap | None = None
) -> CostStage | None:
    """The cost stage with its metrics and budgets, or None when cost is disabled. The
    caller subscribes `stage.on_intervals` to the collectors that meter the hardware."""
    cfg = settings.cost
    if not cfg.enabled:
        return None
    tick_s = settings.collectors.interval_s
    if cfg.max_hold_s < 2 * tick_s:
        log.warning(
            "cost.max_hold_s (%gs) is under two collector ticks (%gs): records may leave "
            "before the tick covering them, and their last share only reaches the metrics",
            cfg.max_hold_s,
            tick_s,
        )
    budgets = Budgets(cfg.budgets, cfg.currency)
    known = known_tenants(settings.tenants)
    metrics = CostMetrics(instruments, cfg, settings.metrics, budgets, known, model_labels)
    return CostStage(cfg, metrics, budgets, spread_s=release_spread(cfg, tick_s))


def release_spread(cfg: CostConfig, tick_s: float | None) -> float:
    """`cost.release_spread_s`, or by default most of the interval between two releases:
    the collectors' `tick_s` (or, without collectors, the cost timer's)."""
    if cfg.release_spread_s is not None:
        return cfg.release_spread_s
    interval = tick_s if tick_s is not None else cfg.tick_s
    return min(_SPREAD_MAX_S, _SPREAD_OF_TICK * interval)
