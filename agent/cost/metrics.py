"""The cost engine's Prometheus side: turns metered charges, shares and releases into series."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from agent.config import MetricsConfig
from agent.cost.budgets import Budgets
from agent.cost.config import CostConfig, HostedPrice
from agent.labels import OVERFLOW, LabelCap
from agent.metrics import admits_model
from agent.record import COST_UNMETERED, RequestRecord
from collectors.base import DeviceInterval

_CACHED_MODELS = 1024


# What the series children of the instruments (whichever implementation) offer here.
class _Counter(Protocol):
    def inc(self, amount: float = 1, /) -> None: ...


class _Gauge(Protocol):
    def set(self, value: float, /) -> None: ...


class _Histogram(Protocol):
    def observe(self, value: float, /) -> None: ...


class CostMetrics:
    """Receives the engine's events (the engine's `sink`) and updates the cost instruments."""

    def __init__(
        self,
        instruments: dict,
        config: CostConfig,
        caps: MetricsConfig,
        budgets: Budgets,
        known_tenants: Iterable[str] = (),
        models: LabelCap | None = None,
    ) -> None:
        self._i, self._cfg, self._budgets = instruments, config, budgets
        self._cur = config.currency
        self._tenant = LabelCap(caps.max_tenants, known_tenants)
        # Shared with the request metrics, which admit a model once the upstream served it:
        # here a model only reads its label, so refused names cannot take the slots.
        self._models = models or LabelCap(caps.max_models)
        self._admit = models is None
        self._weights = config.weights
        # per model: [prefill cost, decode cost, prompt tokens, completion tokens]
        self._tokens: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        self._per_model: dict[str | None, _PerModel] = {}

    def metered(self, iv: DeviceInterval, charge) -> None:
        """One device's interval was metered."""
        i = self._i
        i["inferwatch_cost_metered_total"].labels(iv.device_type, self._cur).inc(charge.cost)
        i["inferwatch_cost_device_seconds_total"].labels(iv.device_type).inc(charge.device_seconds)
        if iv.wall_seconds > 0 and iv.units > 0:
            util = iv.busy_device_seconds / (iv.wall_seconds * iv.units)
            i["inferwatch_cost_device_utilization_ratio"].labels(iv.device_id, iv.device_type).set(
                util
            )

    def idle(self, device_type: str, amount: float) -> None:
        """Part of a tick when no request was active."""
        self._i["inferwatch_cost_idle_total"].labels(device_type, self._cur).inc(amount)

    def shares(self, by_key: dict[tuple[str, str], float]) -> None:
        """A tick was shared out: amounts per (model, tenant)."""
        counter = self._i["inferwatch_cost_requests_total"]
        for (model, tenant), amount in by_key.items():
            counter.labels(self._model(model), self._tenant(tenant), self._cur).inc(amount)
            if self._budgets.add(tenant, amount) is not None:
                self._i["inferwatch_cost_budget_exceeded_total"].labels(tenant).inc()
            if tenant in self._cfg.budgets:
                self._budget_gauges(tenant)

    def _budget_gauges(self, tenant: str) -> None:
        spent = self._budgets.spent.get(tenant, 0.0)
        self._i["inferwatch_cost_tenant_spend_today"].labels(tenant, self._cur).set(spent)
        self._i["inferwatch_cost_budget_ratio"].labels(tenant).set(self._budgets.ratio(tenant))

    def held(self, n: int) -> None:
        """Records currently held."""
        self._i["inferwatch_cost_records_held"].set(n)

    def released(self, r: RequestRecord, req) -> None:
        """A record left with its final cost. An unmetered one (its cost only the metered
        part) is counted apart, and kept out of the per-request and per-token costs, which
        it would pull down."""
        if r.shadow_of is not None:
            return  # a shadow copy: counted by the experiment families (agent/routing/metrics.py)
        cost = r.cost_amount or 0.0
        if not self._admit:  # shared labels: admitted as the request metrics would, at once
            self._models(r.model or "unknown", admit=admits_model(r.http_status))
        per = self._per_model.get(r.model)
        if per is None:
            per = self._children(r.model)
            # Model names come from clients: a bounded cache, and no entry for `other` (the
            # model may yet be admitted and get its own label).
            if len(self._per_model) < _CACHED_MODELS and per.label != OVERFLOW:
                self._per_model[r.model] = per
        if r.cost_status == COST_UNMETERED:
            per.unmetered.inc()
        else:
            per.request.observe(cost)
            self._per_token(per, r, cost)
        hosted = per.hosted
        if hosted is not None:
            amount = (r.prompt_tokens or 0) * hosted.input_per_1m / 1e6
            amount += (r.completion_tokens or 0) * hosted.output_per_1m / 1e6
            self._i["inferwatch_cost_hosted_equivalent_total"].labels(
                per.label, self._tenant(r.tenant), self._cur
            ).inc(amount)

    def _model(self, model: str) -> str:
        return self._models(model, admit=self._admit)

    def _children(self, model: str | None) -> _PerModel:
        # Every record released pays for these series: looked up once per model, not per record.
        label = self._model(model or "unknown")
        gauge = self._i["inferwatch_cost_per_million_tokens"]
        return _PerModel(
            label,
            self._i["inferwatch_cost_request"].labels(label, self._cur),
            self._i["inferwatch_cost_records_unmetered_total"].labels(label),
            gauge.labels(label, "input", self._cur),
            gauge.labels(label, "output", self._cur),
            self._tokens[label],
            self._cfg.hosted_prices.get(model) if model else None,
        )

    def _per_token(self, per: _PerModel, r: RequestRecord, cost: float) -> None:
        p, c = r.prompt_tokens or 0, r.completion_tokens or 0
        work_p, work_d = self._weights.prefill * p, self._weights.decode * c
        if work_p + work_d <= 0:
            return
        acc = per.acc
        acc[0] += cost * work_p / (work_p + work_d)
        acc[1] += cost * work_d / (work_p + work_d)
        acc[2] += p
        acc[3] += c
        if acc[2]:
            per.input.set(acc[0] / acc[2] * 1e6)
        if acc[3]:
            per.output.set(acc[1] / acc[3] * 1e6)


@dataclass(slots=True)
class _PerModel:
    """The series one model's released records update."""

    label: str  # the model label value (capped)
    request: _Histogram  # the request cost histogram's child
    unmetered: _Counter  # the unmetered records counter's child
    input: _Gauge  # cost per 1M input tokens gauge child
    output: _Gauge  # ... output tokens
    acc: list[float]  # [prefill cost, decode cost, prompt tokens, completion tokens]
    hosted: HostedPrice | None  # of the model, if configured
