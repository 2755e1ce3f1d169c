"""The safety stage between the proxy and the record pipeline.

It merges each request's verdicts into its record, counts them in
`inferwatch_safety_filter_hits_total`, runs the flag-only checks off the request path (a
loop callback fed through a bounded list), and makes sure text leaves the process only
redacted: captured prompt/completion text and error messages are masked here, before the
record reaches any sink (store, Elasticsearch, webhooks, logs).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from agent.perturn import PerTurn
from agent.record import RequestRecord, SafetyVerdict
from agent.safety import text as texts
from agent.safety.engine import INPUT, OUTPUT, SafetyEngine
from agent.safety.request import RequestSafety

log = logging.getLogger("inferwatch.safety")
Then = Callable[[RequestRecord], None]
_SLICE = 256  # records checked per loop turn when a backlog built up


class SafetyStage:
    """Create with the engine and the hits counter; `start()` inside the event loop."""

    def __init__(self, engine: SafetyEngine, hits_counter, queue_size: int = 10_000) -> None:
        self.engine = engine
        self._hits = hits_counter
        self._size = queue_size
        self._started = False  # set by start(): checks go off the request path
        self._offpath: PerTurn[tuple[RequestRecord, RequestSafety, Then]] = PerTurn(
            self._complete_all, _SLICE
        )

    def begin(self, operation: str) -> RequestSafety | None:
        """Per-request state, or None when no filter is on and nothing is captured."""
        e = self.engine
        if not (e.enabled(INPUT) or e.enabled(OUTPUT) or e.config.capture_text):
            return None
        return RequestSafety(e, operation)

    def finish(self, record: RequestRecord, state: RequestSafety, then: Then) -> None:
        """Hand `then` the record with verdicts merged: at once when every check ran inline,
        else after the off-path check. Never blocks; a full queue means checking now."""
        state.stream_verdicts()
        if state.needs_offpath and self._started and len(self._offpath) < self._size:
            self._offpath.add(((record, state, then),))
            return
        then(self.complete(record, state))  # not started, or the backlog is full: now

    def complete(self, record: RequestRecord, state: RequestSafety) -> RequestRecord:
        """Run what was not checked inline, count every verdict, and redact what is kept."""
        e = self.engine
        verdicts = list(state.verdicts)
        prompt = "\n".join(texts.request_texts(state.body, state.operation)) if state.body else ""
        completion = texts.output_text(b"".join(state.output)) if state.output else ""
        if not state.input_checked and prompt:
            verdicts.extend(e.scan_texts([prompt], INPUT))
        if not state.output_checked and completion:
            verdicts.extend(e.scan_texts([completion], OUTPUT))
        self._count(verdicts)
        capture = e.config.capture_text
        changes = {
            "safety": tuple(verdicts),
            "prompt_text": e.redact_for_capture(prompt) if capture and prompt else None,
            "completion_text": e.redact_for_capture(completion) if capture and completion else None,
            "error_message": e.redact_for_capture(record.error_message)
            if record.error_message
            else None,
        }
        if all(getattr(record, k) == v for k, v in changes.items()):
            return record  # the usual case (no hit, nothing captured): a copy costs ~10 us
        return dataclasses.replace(record, **changes)

    def _count(self, verdicts: list[SafetyVerdict]) -> None:
        for v in verdicts:
            self._hits.labels(v.filter, v.direction, v.action).inc(v.count)

    # ---- off the request path ------------------------------------------------------------
    # A loop callback, not a queue and a task: a task woken per record cost ~10 us of
    # futures and task steps for each; this runs once per loop turn for all that came.

    def start(self) -> None:
        """Take records off the request path from now on (call from the running loop)."""
        self._started = True

    def _complete_all(self, batch: list[tuple[RequestRecord, RequestSafety, Then]]) -> None:
        for record, state, then in batch:
            self._complete_and_hand_on(record, state, then)

    def _complete_and_hand_on(self, record, state, then: Then) -> None:
        try:
            record = self.complete(record, state)
        except Exception:  # a bug here must not lose the record: pass it on, text-free
            log.exception("safety off-path check failed for %s", record.request_id)
            record = dataclasses.replace(record, prompt_text=None, completion_text=None)
        then(record)

    async def close(self) -> None:
        """Finish the records waiting so far; later ones are checked at once."""
        self._started = False
        self._offpath.flush()
