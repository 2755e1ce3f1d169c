"""One evaluation of every detector, fed to the alert engine: what the child process runs.

Built once in the evaluation process (`alerts.worker`) from plain, picklable settings;
`run(now, inputs)` evaluates the detectors, hands their alerts to the engine, flushes
the groups that are due into the outbox, and returns the metric families and outcomes
for the agent's /metrics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from alerts.config import AlertsConfig

log = logging.getLogger("inferwatch.alerts")

OK, NOT_ENOUGH_DATA, ERROR = "ok", "not_enough_data", "error"
COST_MAX_ROWS = 50_000_000  # records per read chunk before the cost source would sample


@dataclass(frozen=True)
class SourceSpec:
    """Where the detectors read records: the embedded store, or Elasticsearch (a fleet)."""

    store_path: Path
    texts: bool = False  # captured (redacted) text is in the records
    elasticsearch: object | None = None  # an ElasticsearchConfig, when reading the fleet


@dataclass
class EvaluationResult:
    """What one evaluation tells the agent process."""

    families: list = field(default_factory=list)
    outcomes: dict[str, tuple[str, float]] = field(default_factory=dict)  # result, seconds
    notifications: int = 0
    next_flush_at: float | None = None


class Evaluator:
    """The detectors, the engine and the outbox on the alerts database at `db_path`."""

    def __init__(
        self, config: AlertsConfig, db_path: Path, source: SourceSpec, currency: str = ""
    ) -> None:
        # Imported here, in the evaluation process: pandas, SciPy and scikit-learn stay out
        # of the agent's own process (and its start-up time).
        from alerts import db
        from alerts.cost.detector import CostDetector
        from alerts.drift.detector import DriftDetector
        from alerts.drift.history import DriftHistory
        from alerts.drift.snapshot import Snapshots
        from alerts.engine.engine import AlertEngine
        from alerts.engine.state import EngineState
        from alerts.experiments.detector import ExperimentDetector
        from alerts.webhooks.outbox import Outbox

        conn = db.connect(db_path)
        self.engine = AlertEngine(
            config.route,
            config.inhibit_rules,
            EngineState(conn),
            Outbox(conn).put,
            external_url=config.external_url,
        )
        self._idle: float | None = None
        self.detectors: dict = {}
        if config.drift.enabled:
            snaps = Snapshots(conn, config.drift.snapshot_max_rows)
            records = _source(source, config, config.drift.source_max_rows)
            self.detectors["drift"] = DriftDetector(
                config.drift, records, snaps, history=DriftHistory(conn)
            )
        if config.cost.enabled:
            # Sums must see every record (drift's uniform sample would scale them down):
            # the cost detector reads whole chunks of `read_chunk_s` and caches aggregates.
            records = _source(source, config, COST_MAX_ROWS)
            self.detectors["cost"] = CostDetector(
                config.cost, records, idle_cost=lambda: self._idle, currency=currency
            )
        if config.experiments.enabled:
            # Experiment events are this agent's decisions: always in its own store, also
            # when the records are read from Elasticsearch.
            self.detectors["experiments"] = ExperimentDetector(
                source.store_path, external_url=config.external_url
            )

    def run(self, now: float, inputs: dict) -> EvaluationResult:
        """Evaluate (unless `inputs["tick_only"]`), then flush due groups."""
        from alerts.engine.engine import EngineBusy

        self._idle = inputs.get("idle_cost")
        result = EvaluationResult()
        if not inputs.get("tick_only"):
            for name, detector in self.detectors.items():
                result.outcomes[name] = self._evaluate(name, detector, now)
        try:
            result.notifications = len(self.engine.tick(now))
        except EngineBusy:
            log.warning("alerts database busy; the due groups are flushed on the next tick")
        result.next_flush_at = self.engine.next_flush_at()
        for detector in self.detectors.values():
            result.families.extend(detector.families())
        result.families.extend(self.engine.families())
        return result

    def _evaluate(self, name: str, detector, now: float) -> tuple[str, float]:
        from alerts.engine.engine import EngineBusy
        from alerts.source import SourceUnavailable

        start = time.perf_counter()
        try:
            alerts = detector.evaluate(now)
        except SourceUnavailable as err:
            # The records cannot be read: this detector's alerts are neither raised nor
            # resolved (an unreadable store is not the end of a problem).
            log.warning("%s detector cannot read records: %s", name, err)
            return ERROR, time.perf_counter() - start
        except Exception:
            log.exception("%s detector failed", name)
            return ERROR, time.perf_counter() - start
        outcome = _outcome(detector)
        if outcome != ERROR:  # the cost detector keeps its previous alerts on an error
            try:
                self.engine.process(now, name, alerts)
            except EngineBusy:
                log.warning("alerts database busy; %s's report is kept and retried", name)
        return outcome, time.perf_counter() - start


def _outcome(detector) -> str:
    result = getattr(detector, "result", None)
    if result is not None:
        return result
    notes = getattr(detector, "notes", [])
    return NOT_ENOUGH_DATA if any("not enough data" in n for n in notes) else OK


def _source(spec: SourceSpec, config: AlertsConfig, max_rows: int):
    from alerts.source import StoreSource

    if spec.elasticsearch is not None:
        from alerts.drift.run import es_source

        cfg = config.drift.model_copy(update={"source_max_rows": max_rows})
        return es_source(spec.elasticsearch, cfg)
    return StoreSource(spec.store_path, max_rows=max_rows, texts=spec.texts)


def build(config: AlertsConfig, db_path: Path, source: SourceSpec, currency: str) -> Evaluator:
    """The evaluator (a top-level function, so `functools.partial` of it pickles)."""
    return Evaluator(config, db_path, source, currency)
