"""The cost detector: cost series per segment against their robust baselines, and budgets.

One evaluation reads at most `config.history_s()` of records before `now` (the seasonal
weeks, one slot hour and the longest stretch traced; 2 weeks + 7 h by default), or from
the start of the oldest budget period when that is earlier (a month for a monthly
budget); after the first, only the records of the last `settle_s` and since the last
evaluation are read (see cache.py). Only complete intervals are judged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import pandas as pd

from alerts.cost import budgets as budget_alerts
from alerts.cost.anomaly import ANOMALY, NOT_ENOUGH_DATA, Verdict, detect
from alerts.cost.budgets import BudgetState, BudgetTracker
from alerts.cost.cache import AggregateCache, RecordSource
from alerts.cost.config import CostAlertsConfig
from alerts.cost.contributors import contributors, describe
from alerts.cost.metrics import families
from alerts.cost.series import TOTAL, segment_series, top_values
from alerts.model import Alert

log = logging.getLogger("inferwatch.alerts.cost")
ANOMALY_ALERT = "InferwatchCostAnomaly"


class CostDetector:
    """Cost anomalies and budget thresholds, evaluated off the request path.

    `idle_cost()` returns the cost engine's cumulative idle cost (None when cost is off);
    sampled at each evaluation, it gives `idle_share`, the idle share of the cost between
    the last two evaluations.
    """

    def __init__(
        self,
        config: CostAlertsConfig,
        source: RecordSource,
        idle_cost: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.time,
        currency: str = "",
    ) -> None:
        self._cfg, self._idle_cost, self._clock, self._currency = config, idle_cost, clock, currency
        self._cache = AggregateCache(
            source, config.interval_s, config.settle_s, config.read_chunk_s
        )
        self._budgets = BudgetTracker(
            config.budgets, config.interval_s, config.forecast_window_s, config.forecast_buckets
        )
        self._alerts: list[Alert] = []
        self._idle_sample: tuple[float, float] | None = None
        self.verdicts: dict[tuple[str, str], Verdict] = {}
        self.budget_states: list[BudgetState] = []
        self.result = "ok"  # of the last evaluation: ok, not_enough_data or error
        self.counts = {"unknown_cost": 0, "invalid": 0, "segments_skipped": 0}
        self.idle_share: float | None = None
        self.series: dict[str, pd.DataFrame] = {}

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """The cost alerts active at `now`. A source failure is logged and keeps the
        previous alerts (result "error"), so a store that is locked resolves nothing."""
        now = self._clock() if now is None else now
        try:
            self._alerts = self._evaluate(now)
        except Exception:
            log.exception("cost evaluation failed; keeping the previous alerts")
            self.result = "error"
        return list(self._alerts)

    def families(self) -> list:
        """The catalogue's cost and budget gauges from the last evaluation."""
        return families(self.verdicts, self.budget_states)

    def _evaluate(self, now: float) -> list[Alert]:
        iv = self._cfg.interval_s
        first = math.floor((now - self._cfg.history_s()) / iv)
        budget_start = self._budgets.earliest_start(now)
        read_from = first if budget_start is None else min(first, math.floor(budget_start / iv))
        agg = self._cache.update(read_from, now)
        self.budget_states = self._budgets.update(agg, now)
        alerts = [a for s in self.budget_states for a in budget_alerts.alerts(s, self._currency)]
        recent = agg[agg["interval"] >= first]
        self._sample_idle(recent, now)
        return alerts + self._anomalies(recent, math.floor(now / iv))

    def _anomalies(self, agg: pd.DataFrame, end: int) -> list[Alert]:
        self.counts["unknown_cost"] = int(agg["unknown"].sum())
        self.counts["invalid"] = int(agg["invalid"].sum())
        self.verdicts, self.series = {}, {}
        if len(agg) == 0:  # no records at all: nothing to compare with
            self.result = NOT_ENOUGH_DATA
            return []
        begin = int(agg["interval"].min())  # the series start with the first record
        tenants, t_skip = top_values(agg, "tenant", self._cfg.max_segments)
        models, m_skip = top_values(agg, "model", self._cfg.max_segments)
        self.counts["segments_skipped"] = t_skip + m_skip
        self.series = segment_series(agg, begin, end, tenants, models)
        out = []
        for name in self._cfg.series:
            for column, values in self.series[name].items():
                segment = str(column)  # the columns are segment names
                verdict = self.verdicts[(name, segment)] = detect(values, self._cfg)
                if verdict.status == ANOMALY:
                    out.append(self._alert(name, segment, verdict, agg, begin))
        main = self.verdicts.get(("cost", TOTAL)) or next(iter(self.verdicts.values()), None)
        self.result = NOT_ENOUGH_DATA if main is None or main.status == NOT_ENOUGH_DATA else "ok"
        return out

    def _alert(self, name: str, segment: str, v: Verdict, agg, begin: int) -> Alert:
        labels = {"alertname": ANOMALY_ALERT, "series": name, "segment": segment}
        if segment != TOTAL:
            by, value = segment.split("=", 1)
            labels[by] = value
        labels["severity"] = "warning"
        if v.first is None or v.last is None:  # an anomaly has a stretch: detect() sets it
            raise ValueError(f"anomaly verdict of {name} {segment} without its stretch")
        top = ""
        if name == "cost":
            sign = 1 if v.size >= 0 else -1
            top = describe(
                contributors(agg, segment, (begin, v.first, v.last), self._cfg, sign),
                self._currency,
            )
        return Alert(
            labels,
            self._annotations(name, segment, v, top),
            starts_at=v.first * self._cfg.interval_s,
        )

    def _annotations(self, name: str, segment: str, v: Verdict, top: str) -> dict[str, str]:
        cur, minutes = self._currency, v.run * self._cfg.interval_s / 60
        unit = f" {cur}" if name == "cost" and cur else ""
        return {
            "summary": f"{name} of {segment} outside its usual band for {minutes:g} minutes",
            "description": (
                f"{name} of {segment} is {v.observed:.4g}{unit} per interval where "
                f"{v.expected:.4g}{unit} was expected ({v.baseline} baseline); over the "
                f"stretch it added {v.size:+.4g}{unit}."
                + (f" Top contributors: {top}." if top else "")
            ),
            "observed": f"{v.observed:.6g}",
            "expected": f"{v.expected:.6g}",
            "size": f"{v.size:.6g}",
            "currency": cur if name == "cost" else "",
            "top_contributors": top,
            "baseline": v.baseline,
        }

    def _sample_idle(self, agg: pd.DataFrame, now: float) -> None:
        total = self._idle_cost() if self._idle_cost is not None else None
        if total is None or not math.isfinite(total):
            self.idle_share, self._idle_sample = None, None
            return
        prev, self._idle_sample = self._idle_sample, (now, float(total))
        if prev is None or now <= prev[0]:
            return
        idle = max(0.0, total - prev[1])
        span = agg[agg["interval"] >= math.floor(prev[0] / self._cfg.interval_s)]
        spent = float(span["cost"].sum()) + idle
        self.idle_share = idle / spent if spent > 0 else None
