"""The record path: where a request's record goes once the proxy has built it.

One ordered list of stages, then the bounded queue and its sinks, built in one place
(`agent.app.Agent`, from settings) and handed to the proxy, which calls `begin` when a
request goes upstream and `finish` once, when it ends::

    proxy ─ finish(record) ─► store.early ─► safety ─► cost ─► metrics ─► queue ─► sinks
                               (row exists)  (verdicts) (held until   (/metrics,   store (→ Elasticsearch)
                                                         metered)      one moment)  spans, memory

A stage has one small interface (`Stage`): `process(record)` hands the record on with
`emit` (at once, or later for a stage that holds it, such as cost), exactly once; a stage
that raises is skipped for that record, which goes on without its text. A sink
(`agent.pipeline.Sink`) takes batches off the request path, on the queue's task. Metrics
are the last stage, not a sink: they must see every record, even one the full queue
drops, and they are in-memory and O(1).

This is the vLLM stat-logger shape (one manager fanning out to a list) and OpenTelemetry's
span processors (`on_start` = `begin`, `on_end` = `process`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.pipeline import RecordPipeline
from agent.record import RequestRecord

log = logging.getLogger("inferwatch.recordpath")
Emit = Callable[[RequestRecord], object]


@dataclass(frozen=True, slots=True)
class InFlight:
    """A request about to be sent upstream (what `Stage.begin` learns of it)."""

    request_id: str
    start_ns: int
    tenant: str
    model: str
    stream: bool
    # False when its upstream runs on hardware the agent does not meter (another machine):
    # it takes no share of the metered devices, and its record has no cost.
    metered: bool = True


class Stage:
    """One step of the record path. Subclasses override what they need; the defaults
    pass records straight on and hold nothing."""

    name = "stage"

    def __init__(self) -> None:
        self.emit: Emit = _unconnected

    def connect(self, emit: Emit) -> None:
        """Set where records go next (the path does it once, when it is built)."""
        self.emit = emit

    def begin(self, request: InFlight) -> None:
        """A request goes upstream (on the request path: O(1), no I/O)."""

    def process(self, record: RequestRecord) -> None:
        """Take a finished record; `emit` it (a new one, if changed) now or later, once.
        Called on the request path: O(1), no I/O, never raises for a bad record."""
        self.emit(record)

    async def start(self) -> None:
        """Start background work (inside the running loop)."""

    async def stop(self) -> None:
        """Emit everything still held; called in path order, so what this stage emits
        still passes the later stages."""


def _guarded(stage: Stage, then: Emit) -> Emit:
    """`stage.process`, where a failure of the stage costs only that stage: the record
    goes on to the next one without any text (it may not have been redacted yet), so it
    is still costed, counted and stored. (A stage never raises after it has emitted.)"""

    def process(record: RequestRecord) -> None:
        try:
            stage.process(record)
        except Exception:
            log.exception(
                "record path stage failed; the record skips it",
                extra={"stage": stage.name, "request_id": record.request_id},
            )
            then(record.without_text())

    return process


def _unconnected(record: RequestRecord) -> None:
    raise RuntimeError("stage used before RecordPath connected it")


class RecordPath:
    """The stages in order, then the pipeline (its queue and sinks)."""

    def __init__(self, stages: Sequence[Stage], pipeline: RecordPipeline) -> None:
        self.stages = list(stages)
        self.pipeline = pipeline
        emit: Emit = pipeline.submit
        for stage in reversed(self.stages):
            stage.connect(emit)
            emit = _guarded(stage, emit)
        self._first = emit
        # Only stages that do something with it are called per request.
        self._beginners = [s for s in self.stages if type(s).begin is not Stage.begin]

    def begin(self, request: InFlight) -> None:
        """A request goes upstream."""
        for stage in self._beginners:
            stage.begin(request)

    def finish(self, record: RequestRecord) -> None:
        """The one hand-off from the proxy: the record enters the first stage."""
        self._first(record)

    def order(self) -> list[str]:
        """Names in the order a record meets them: stages, then sinks."""
        return [s.name for s in self.stages] + [f"sink:{n}" for n in self.pipeline.sink_names()]

    async def start(self) -> None:
        """Start the pipeline's task, then each stage."""
        self.pipeline.start()
        for stage in self.stages:
            await stage.start()

    async def stop(self) -> None:
        """Stop the stages in order (each emits what it holds into the next), then close
        the pipeline: its queue is delivered and every sink flushed and closed."""
        for stage in self.stages:
            try:
                await stage.stop()
            except Exception:
                log.exception("record path stage failed to stop", extra={"stage": stage.name})
        await self.pipeline.close()
