"""The metrics stage: where /metrics learns of a request, all at once (latency, tokens,
errors, safety hits), once its safety check is done and before the cost stage holds it
(its cost is counted when released, by the cost stage itself).

A stage rather than a queued sink: it must count every record, even one the full queue
then drops, and it is in-memory and O(1) on the event loop."""

from __future__ import annotations

from agent.metrics import RequestMetrics
from agent.record import RequestRecord
from agent.recordpath import Stage


class MetricsStage(Stage):
    """Observes each record into the request metrics and the safety-hit counter."""

    name = "metrics"

    def __init__(self, metrics: RequestMetrics, safety_hits) -> None:
        """`safety_hits`: the `inferwatch_safety_filter_hits_total` family."""
        super().__init__()
        self._metrics, self._hits = metrics, safety_hits

    def process(self, record: RequestRecord) -> None:
        """Count the record, then pass it on. A shadow copy is no client's request: it is
        counted by the experiment families only (agent/routing/metrics.py)."""
        if record.shadow_of is not None:
            self.emit(record)
            return
        self._metrics.observe(record)
        for v in record.safety:
            self._hits.labels(v.filter, v.direction, v.action).inc(v.count)
        self.emit(record)
