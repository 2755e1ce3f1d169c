"""The experiment families of /metrics, counted per variant when a record of an
experiment leaves the cost stage (so its cost is known and counted with the rest).

Labels are bounded: `experiment` and `variant` only ever take names from the
configuration (the router sets them), `filter` the safety filters' names."""

from __future__ import annotations

from agent.record import RequestRecord
from agent.recordpath import Stage

_TOKEN_TYPES = (("prompt_tokens", "input"), ("completion_tokens", "output"))


class ExperimentStage(Stage):
    """Counts each experiment record into the `inferwatch_experiment_*` families."""

    name = "experiment"

    def __init__(self, instruments: dict) -> None:
        super().__init__()
        i = instruments
        self._requests = i["inferwatch_experiment_requests_total"]
        self._duration = i["inferwatch_experiment_request_duration_seconds"]
        self._ttft = i["inferwatch_experiment_time_to_first_token_seconds"]
        self._tokens = i["inferwatch_experiment_tokens_total"]
        self._cost = i["inferwatch_experiment_cost_total"]
        self._hits = i["inferwatch_experiment_safety_hits_total"]

    def process(self, record: RequestRecord) -> None:
        """Count the record when it belongs to an experiment, then pass it on."""
        exp, variant = record.experiment, record.variant
        if exp is not None and variant is not None:
            self._observe(record, exp, variant)
        self.emit(record)

    def _observe(self, r: RequestRecord, exp: str, variant: str) -> None:
        self._requests.labels(exp, variant, r.status).inc()
        self._duration.labels(exp, variant).observe(r.duration_s)
        if r.ttft_s is not None:
            self._ttft.labels(exp, variant).observe(r.ttft_s)
        for field, kind in _TOKEN_TYPES:
            n = getattr(r, field)
            if n:
                self._tokens.labels(exp, variant, kind).inc(n)
        if r.cost_amount is not None and r.cost_currency:
            self._cost.labels(exp, variant, r.cost_currency).inc(r.cost_amount)
        for v in r.safety:
            self._hits.labels(exp, variant, v.filter).inc(v.count)
