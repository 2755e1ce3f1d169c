"""The alerts service inside the agent: schedules evaluations, delivers webhooks, and
exposes the detectors' and the engine's series on the agent's /metrics.

Evaluation runs in a child process (`alerts.worker`): the agent's event loop only
waits for its answer. Delivery runs on the loop (aiohttp, SQLite calls in a thread).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

from agent.catalogue import load_catalogue
from alerts import db
from alerts.config import AlertsConfig
from alerts.evaluator import ERROR, EvaluationResult, SourceSpec, build
from alerts.webhooks.sender import Sender
from alerts.worker import EvaluationWorker

log = logging.getLogger("inferwatch.alerts")

EVALUATIONS = "inferwatch_alert_evaluations_total"
DURATION = "inferwatch_alert_evaluation_duration_seconds"
_MIN_SLEEP_S = 0.05  # never spin: a group due "now" is flushed on the next pass


class AlertsService:
    """Evaluates every `config.interval_s` (sooner when a group's timer is due), sends
    what the engine put in the outbox, and is a prometheus_client collector."""

    def __init__(
        self,
        config: AlertsConfig,
        db_path: Path,
        source: SourceSpec,
        currency: str = "",
        idle_cost: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config, self.db_path, self.clock = config, db_path, clock
        self._idle_cost = idle_cost or (lambda: None)
        self.sender = Sender(config, db_path, clock=clock)  # refuses a bad receiver now
        factory = functools.partial(build, config, db_path, source, currency)
        self.worker = EvaluationWorker(factory, idle=config.idle_priority)
        self.last = EvaluationResult()
        self.counts: Counter[tuple[str, str]] = Counter()
        self.durations: dict[str, float] = {}
        self._tasks: list[asyncio.Task] = []
        specs = load_catalogue()
        self._help = {n: specs[n].help for n in (EVALUATIONS, DURATION)}

    async def start(self) -> None:
        """Start delivering and evaluating."""
        self._tasks = [
            asyncio.create_task(self.sender.run(), name="alerts-sender"),
            asyncio.create_task(self._loop(), name="alerts-evaluation"),
        ]

    async def stop(self) -> None:
        """Stop both tasks and the evaluation process."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.worker.close()

    async def evaluate_once(self, tick_only: bool = False) -> EvaluationResult | None:
        """One evaluation (or only the engine's flush); None when the process failed."""
        inputs = {"idle_cost": self._idle_cost(), "tick_only": tick_only}
        try:
            result = await self.worker.run(self.clock(), inputs)
        except Exception:
            log.exception("alerts evaluation failed")
            self.counts[("worker", ERROR)] += 1
            return None
        for name, (outcome, seconds) in result.outcomes.items():
            self.counts[(name, outcome)] += 1
            self.durations[name] = seconds
        self.last = result
        if result.notifications:
            self.sender.wake()
        return result

    async def _loop(self) -> None:
        next_eval = self.clock()
        while True:
            now = self.clock()
            due = now >= next_eval
            if due:
                next_eval = now + self.config.interval_s
            result = await self.evaluate_once(tick_only=not due)
            wake = next_eval
            if result is not None and result.next_flush_at is not None:
                wake = min(wake, result.next_flush_at)
            await asyncio.sleep(max(_MIN_SLEEP_S, wake - self.clock()))

    def collect(self):
        """The prometheus_client collector protocol: every alerts series."""
        yield from self.last.families
        yield from self.sender.families()
        evals = CounterMetricFamily(
            EVALUATIONS.removesuffix("_total"),
            self._help[EVALUATIONS],
            labels=["detector", "result"],
        )
        for (detector, outcome), n in sorted(self.counts.items()):
            evals.add_metric([detector, outcome], n)
        yield evals
        took = GaugeMetricFamily(DURATION, self._help[DURATION], labels=["detector"])
        for detector, seconds in sorted(self.durations.items()):
            took.add_metric([detector], seconds)
        yield took


def attach_alerts(agent, settings) -> AlertsService | None:
    """Wire the alerts service into `agent` (before it serves); None when `alerts.enabled`
    is off. Raises `ReceiverError` on a webhook the config must not send to."""
    cfg = settings.alerts
    if not cfg.enabled:
        return None
    es = settings.elasticsearch
    fleet = cfg.source == "elasticsearch"
    if fleet and not es.url:
        raise ValueError("alerts.source is elasticsearch but elasticsearch.url is not set")
    spec = SourceSpec(
        store_path=settings.store.path,
        texts=settings.safety.capture_text,
        elasticsearch=es if fleet else None,
    )
    cost = getattr(agent, "cost", None)
    idle = (lambda: cost.engine.totals.idle) if cost is not None else None
    service = AlertsService(
        cfg,
        Path(settings.store.dir) / db.FILENAME,
        spec,
        currency=settings.cost.currency,
        idle_cost=idle,
    )
    agent.registry.register(service)

    async def start(_agent) -> None:
        await service.start()

    async def stop(_agent) -> None:
        await service.stop()

    agent.on_startup.append(start)
    agent.on_cleanup.append(stop)
    return service
