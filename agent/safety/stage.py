"""The safety stage of the record path.

The proxy opens a `RequestSafety` per request (`request()`) for the inline checks. When the
record comes through, the stage merges the request's verdicts into it (the metrics stage
counts them), runs the flag-only checks off the request path (a bounded queue and a task;
records with more than `OFFLOAD_BYTES` of text go to the scan thread instead, so that a big
scan never holds the event loop), and makes
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
import importlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent.record import RequestRecord, SafetyVerdict
from agent.recordpath import Stage
from agent.safety import walk
from agent.safety.budget import Budget
from agent.safety.engine import INPUT, OUTPUT, SafetyEngine
from agent.safety.request import OFFLOAD_BYTES, RequestSafety

log = logging.getLogger("inferwatch.safety")
_SLICE = 256  # records checked per loop turn when a backlog built up
DESCRIBE_MODULE = "alerts.drift.text"  # drift's text descriptors (alerts/drift/descriptors.py)


def _text_stats(prompt: str, completion: str) -> dict[str, float] | None:
    """Drift's text descriptors; a failure costs only them, never the verdicts."""
    try:
        from alerts.drift.descriptors import text_stats  # drift's module, loaded on use

        return text_stats(prompt, completion)
    except Exception:
        log.exception("text descriptors failed; the record goes on without them")
        return None


class SafetyStage(Stage):
    """Create with the engine; `start()` inside the event loop."""

    name = "safety"

    def __init__(self, engine: SafetyEngine, queue_size: int = 10_000) -> None:
        super().__init__()
        self.engine = engine
        self._open: dict[str, RequestSafety] = {}  # request id -> its state, until its record
        self._queue: asyncio.Queue[tuple[RequestRecord, RequestSafety]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task | None = None  # the off-path checks, between start and stop
        self._pool: ThreadPoolExecutor | None = None  # the scan thread, between start and stop
        self._pending: set[asyncio.Future] = set()  # off-path scans on the scan thread

    def request(self, operation: str, request_id: str) -> RequestSafety | None:
        """Per-request state for the inline checks, or None when no filter is on and
        nothing is captured. The record with `request_id` takes it along."""
        e = self.engine
        c = e.config
        if not (e.enabled(INPUT) or e.enabled(OUTPUT) or c.capture_text or self._describes()):
            return None
        state = self._open[request_id] = RequestSafety(e, operation, self.off_loop)
        return state

    async def off_loop(self, fn: Callable, *args):
        """`fn(*args)` on the scan thread (on the caller's, before `start` or after `stop`)."""
        if self._pool is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def process(self, record: RequestRecord) -> None:
        """Emit the record with verdicts merged: at once when every check ran inline, else
        after the off-path check. Never blocks; a full queue means checking now."""
        state = self._open.pop(record.request_id, None)
        if state is None:
            self.emit(record)
            return
        state.stream_verdicts()
        if state.needs_offpath and self._task is not None:
            try:
                self._queue.put_nowait((record, state))
                return
            except asyncio.QueueFull:
                pass
        self._complete_and_emit(record, state)  # not started, or the backlog is full: now

    def complete(self, record: RequestRecord, state: RequestSafety) -> RequestRecord:
        """Run what was not checked inline, and redact what is kept."""
        return self._scan(record, state)[0]

    def _scan(
        self, record: RequestRecord, state: RequestSafety
    ) -> tuple[RequestRecord, list[SafetyVerdict]]:
        """`complete` but for the counting (the metrics are the event loop's): safe on the
        scan thread."""
        e = self.engine
        verdicts = list(state.verdicts)
        found = walk.request_walk(state.body, state.operation) if state.body else walk.Walk()
        prompt = "\n".join(walk.read(slot) for slot in found.slots)
        completion = state.output_text()
        if not state.input_checked and (prompt or found.too_deep):
            verdicts.extend(e.scan_texts([prompt], INPUT, self._budget(found.too_deep)))
        if not state.output_checked and (completion or state.output_truncated):
            budget = self._budget(state.output_truncated)  # past MAX_KEPT_BYTES: unscanned
            verdicts.extend(e.scan_texts([completion], OUTPUT, budget))
        capture = e.config.capture_text
        changes: dict[str, Any] = {
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
            return record, verdicts  # the usual case (no hit, nothing captured): no copy
        return dataclasses.replace(record, **changes), verdicts

    def _budget(self, truncated: bool) -> Budget:
        """A fresh scan budget, already marked truncated when some text was not kept."""
        budget = Budget(self.engine.budget)
        budget.truncated = truncated
        return budget

    # ---- off the request path ------------------------------------------------------------

    def _describes(self) -> bool:
        c = self.engine.config
        return c.text_descriptors and c.enabled

    async def start(self) -> None:
        """Take records off the request path from now on. Drift's text descriptors are
        loaded now, before the agent listens: their imports (then numpy and scipy too, 0.4 s
        on an idle box, 1.7 s on a busy one) held the event loop on the first request's
        record (bench/soak.py's stall watch). Drift's text module now leaves numpy and scipy
        to the domain test, and loaded here it is frozen with the startup heap
        (agent/cli.py), out of every later full collection's walk."""
        if self._describes():
            importlib.import_module(DESCRIBE_MODULE)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="inferwatch-safety-scan")
        self._task = asyncio.get_running_loop().create_task(self._drain(), name="safety")

    async def _drain(self) -> None:
        queue = self._queue
        while True:
            items = [await queue.get()]
            while len(items) < _SLICE and not queue.empty():
                items.append(queue.get_nowait())
            for record, state in items:
                self._complete_offpath(record, state)
            await asyncio.sleep(0)  # a backlog is checked a slice per loop turn

    def _complete_offpath(self, record: RequestRecord, state: RequestSafety) -> None:
        if self._pool is not None and state.scan_size() > OFFLOAD_BYTES:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self._pool, self._scan, record, state)
            self._pending.add(fut)
            fut.add_done_callback(functools.partial(self._scanned, record, state))
        else:
            self._complete_and_emit(record, state)

    def _scanned(self, record: RequestRecord, state: RequestSafety, fut: asyncio.Future) -> None:
        """Back on the loop: hand the record on."""
        self._pending.discard(fut)
        try:
            record = fut.result()[0]
        except (Exception, asyncio.CancelledError):
            log.exception("safety off-path check failed for %s", record.request_id)
            record = _unchecked(record, state)
        self.emit(record)

    def _complete_and_emit(self, record: RequestRecord, state: RequestSafety) -> None:
        try:
            record = self.complete(record, state)
        except Exception:  # a bug here must not lose the record
            log.exception("safety off-path check failed for %s", record.request_id)
            record = _unchecked(record, state)
        self.emit(record)

    async def stop(self) -> None:
        """Finish the records waiting so far, those on the scan thread included; later ones
        are checked at once."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        while not self._queue.empty():
            self._complete_offpath(*self._queue.get_nowait())
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # an inline check still on it finishes first


def _unchecked(record: RequestRecord, state: RequestSafety) -> RequestRecord:
    """A record whose check failed goes on without any text (none of it was redacted),
    with the verdicts the inline checks had already reached."""
    return dataclasses.replace(record.without_text(), safety=tuple(state.verdicts))
