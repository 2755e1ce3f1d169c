"""One request's safety state: inline checks on the request path, texts kept for later.

The proxy creates it through `SafetyStage.begin`, calls `check_request` before sending
upstream, `check_response` or `stream()` on the way back, `keep_output` with the bytes it
forwarded, and hands it to `SafetyStage.finish` with the record. Whatever is not checked
inline (flag-only filters) is checked off the request path from what was kept.
"""

from __future__ import annotations

from collections import Counter

import orjson

from agent.record import SafetyVerdict
from agent.safety.engine import INPUT, OUTPUT, Block, SafetyEngine, verdicts_of
from agent.safety.sse import SSEFilter

# Response bytes kept for the off-path output scan (or capture) of one request.
MAX_KEPT_BYTES = 4 * 1024 * 1024


class RequestSafety:
    """Inline verdicts so far, plus what the off-path check and capture will need."""

    def __init__(self, engine: SafetyEngine, operation: str) -> None:
        self.engine = engine
        self.operation = operation
        self.verdicts: list[SafetyVerdict] = []
        self.block: Block | None = None
        self.body: dict | None = None  # the (redacted) request, if still needed
        self.output: list[bytes] = []  # the forwarded response, if still needed
        self._kept = 0  # bytes in `output`
        self.output_truncated = False  # True when a very long response outgrew the cap
        self.input_checked = not engine.enabled(INPUT)
        self.output_checked = not engine.enabled(OUTPUT)
        self._capture = engine.config.capture_text
        self._sse: SSEFilter | None = None

    # ---- request path --------------------------------------------------------------------

    def check_request(self, body: dict) -> Block | None:
        """Inline check of the request body (redacted in place); a Block means refuse it."""
        if self.engine.inline(INPUT):
            d = self.engine.inspect_request(body, self.operation)
            self.verdicts.extend(d.verdicts)
            self.input_checked = True
            self.block = d.block
        if self._capture or not self.input_checked:
            self.body = body
        return self.block

    def check_response(self, payload: bytes) -> bytes:
        """Inline check of a non-streamed JSON response; returns the bytes to send."""
        if self.engine.inline(OUTPUT):
            payload = self._inspect_json(payload)
        self.keep_output(payload)
        return payload

    def stream(self) -> SSEFilter | None:
        """The SSE rewriter for a streamed response, or None when no output filter is inline."""
        if not self.engine.inline(OUTPUT):
            return None
        self._sse = SSEFilter(self.engine)
        self.output_checked = True
        return self._sse

    def keep_output(self, chunk: bytes) -> None:
        """Note forwarded response bytes when the off-path check or capture needs them."""
        if chunk and (self._capture or not self.output_checked):
            # Bounded: a stream of 200,000 events would otherwise hold ~50 MB until it ends.
            # Past the cap the rest of the response goes unscanned (flag-only path), noted
            # in `output_truncated`.
            if self._kept + len(chunk) > MAX_KEPT_BYTES:
                self.output_truncated = True
                return
            self._kept += len(chunk)
            self.output.append(chunk)

    @property
    def needs_offpath(self) -> bool:
        """True when texts still have to be scanned (or captured) off the request path."""
        return not (self.input_checked and self.output_checked) or self._capture

    # ---- internals -----------------------------------------------------------------------

    def _inspect_json(self, payload: bytes) -> bytes:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload  # not ours to judge; the off-path check sees it as no text
        if not isinstance(obj, dict):
            return payload
        d = self.engine.inspect_response(obj)
        self.verdicts.extend(d.verdicts)
        self.output_checked = True
        if d.block is not None:
            self.block = d.block
        return orjson.dumps(obj) if d.redacted or d.block else payload

    def stream_verdicts(self) -> None:
        """Fold the SSE filter's hits into the verdicts (called once the stream ended)."""
        if self._sse is not None:
            counts: Counter = self._sse.counts
            self.verdicts.extend(verdicts_of(counts, OUTPUT))
            if self._sse.blocked_by is not None:
                self.block = Block(self._sse.blocked_by, OUTPUT)
            self._sse = None
