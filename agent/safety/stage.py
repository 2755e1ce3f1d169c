"""The safety stage between the proxy and the record pipeline.

It merges each request's verdicts into its record, counts them in
`inferwatch_safety_filter_hits_total`, runs the flag-only checks off the request path (a
loop callback fed through a bounded list; records with more than `OFFLOAD_BYTES` of text
go to the scan thread instead, so that a big scan never holds the event loop), and makes
sure text leaves the process only redacted: captured prompt/completion text and error
messages are masked here, before the record reaches any sink (store, Elasticsearch,
webhooks, logs).

One scan thread: the rules' `re` half holds the GIL (Hyperscan's half releases it), so
more threads would add contention with the event loop, not throughput.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from agent.perturn import PerTurn
from agent.record import RequestRecord, SafetyVerdict
from agent.safety import text as texts
from agent.safety import walk
from agent.safety.budget import Budget
from agent.safety.engine import INPUT, OUTPUT, SafetyEngine
from agent.safety.request import OFFLOAD_BYTES, RequestSafety

log = logging.getLogger("inferwatch.safety")
Then = Callable[[RequestRecord], None]
_SLICE = 256  # records checked per loop turn when a backlog built up


def _text_stats(prompt: str, completion: str) -> dict[str, float] | None:
    """Drift's text descriptors; a failure costs only them, never the verdicts."""
    try:
        from alerts.drift.descriptors import text_stats  # drift's module, loaded on use

        return text_stats(prompt, completion)
    except Exception:
        log.exception("text descriptors failed; the record goes on without them")
        return None


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
        self._pool: ThreadPoolExecutor | None = None  # the scan thread, between start and close
        self._pending: set[asyncio.Future] = set()  # off-path scans on the scan thread

    def begin(self, operation: str) -> RequestSafety | None:
        """Per-request state, or None when no filter is on and nothing is captured."""
        e = self.engine
        c = e.config
        described = c.text_descriptors and c.enabled
        if not (e.enabled(INPUT) or e.enabled(OUTPUT) or c.capture_text or described):
            return None
        return RequestSafety(e, operation, self.off_loop)

    async def off_loop(self, fn: Callable, *args):
        """`fn(*args)` on the scan thread (on the caller's, before `start` or after `close`)."""
        if self._pool is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

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
        record, verdicts = self._scan(record, state)
        self._count(verdicts)
        return record

    def _scan(
        self, record: RequestRecord, state: RequestSafety
    ) -> tuple[RequestRecord, list[SafetyVerdict]]:
        """`complete` but for the counting (the metrics are the event loop's): safe on the
        scan thread."""
        e = self.engine
        verdicts = list(state.verdicts)
        found = walk.request_walk(state.body, state.operation) if state.body else walk.Walk()
        prompt = "\n".join(walk.read(slot) for slot in found.slots)
        completion = texts.output_text(b"".join(state.output)) if state.output else ""
        if not state.input_checked and (prompt or found.too_deep):
            verdicts.extend(e.scan_texts([prompt], INPUT, self._budget(found.too_deep)))
        if not state.output_checked and (completion or state.output_truncated):
            budget = self._budget(state.output_truncated)  # past MAX_KEPT_BYTES: unscanned
            verdicts.extend(e.scan_texts([completion], OUTPUT, budget))
        capture = e.config.capture_text
        changes = {
            "safety": tuple(verdicts),
            "prompt_text": e.redact_for_capture(prompt) if capture and prompt else None,
            "completion_text": e.redact_for_capture(completion) if capture and completion else None,
            "error_message": e.redact_for_capture(record.error_message)
            if record.error_message
            else None,
            "text_stats": _text_stats(prompt, completion)
            if e.config.text_descriptors and e.config.enabled and not capture
            else None,
        }
        if all(getattr(record, k) == v for k, v in changes.items()):
            return (
                record,
                verdicts,
            )  # the usual case (no hit, nothing captured): a copy costs ~10 us
        return dataclasses.replace(record, **changes), verdicts

    def _budget(self, truncated: bool) -> Budget:
        """A fresh scan budget, already marked truncated when some text was not kept."""
        budget = Budget(self.engine.budget)
        budget.truncated = truncated
        return budget

    def _count(self, verdicts: list[SafetyVerdict]) -> None:
        for v in verdicts:
            self._hits.labels(v.filter, v.direction, v.action).inc(v.count)

    # ---- off the request path ------------------------------------------------------------
    # A loop callback, not a queue and a task: a task woken per record cost ~10 us of
    # futures and task steps for each; this runs once per loop turn for all that came.

    def start(self) -> None:
        """Take records off the request path from now on (call from the running loop)."""
        self._started = True
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="inferwatch-safety-scan")

    def _complete_all(self, batch: list[tuple[RequestRecord, RequestSafety, Then]]) -> None:
        for record, state, then in batch:
            if self._pool is not None and state.scan_size() > OFFLOAD_BYTES:
                self._complete_on_thread(record, state, then)
            else:
                self._complete_and_hand_on(record, state, then)

    def _complete_on_thread(self, record, state, then: Then) -> None:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, self._scan, record, state)
        self._pending.add(fut)
        fut.add_done_callback(functools.partial(self._scanned, record, then))

    def _scanned(self, record: RequestRecord, then: Then, fut: asyncio.Future) -> None:
        """Back on the loop: count the verdicts and hand the record on."""
        self._pending.discard(fut)
        try:
            record, verdicts = fut.result()
            self._count(verdicts)
        except (Exception, asyncio.CancelledError):  # the record goes on, text-free
            log.exception("safety off-path check failed for %s", record.request_id)
            record = dataclasses.replace(record, prompt_text=None, completion_text=None)
        then(record)

    def _complete_and_hand_on(self, record, state, then: Then) -> None:
        try:
            record = self.complete(record, state)
        except Exception:  # a bug here must not lose the record: pass it on, text-free
            log.exception("safety off-path check failed for %s", record.request_id)
            record = dataclasses.replace(record, prompt_text=None, completion_text=None)
        then(record)

    async def close(self) -> None:
        """Finish the records waiting so far, those on the scan thread included; later ones
        are checked at once."""
        self._started = False
        self._offpath.flush()
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # an inline check still on it finishes first
