"""One request's safety state: inline checks on the request path, texts kept for later.

The proxy creates it through `SafetyStage.begin`, calls `check_request` (or
`await check_request_async`) before sending upstream, `check_response` (or `await
check_response_async`) or `stream()` on the way back, `keep_output` with the bytes it
forwarded, and hands it to `SafetyStage.finish` with the record. Whatever is not checked
inline (flag-only filters) is checked off the request path from what was kept. The async
variants check a big body on the stage's scan thread, so the event loop goes on serving
other requests meanwhile; the sync ones always check on the caller's thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from agent.record import SafetyVerdict
from agent.safety import text as texts
from agent.safety.engine import INPUT, OUTPUT, Block, SafetyEngine, verdicts_of
from agent.safety.sse import SSEFilter

# Response bytes kept for the off-path output scan (or capture) of one request.
MAX_KEPT_BYTES = 4 * 1024 * 1024
# Bodies bigger than this are scanned on the scan thread, not on the event loop: the
# worst case measured (a card number a line, a hit each) scans at ~4 ms per 16 KiB; a
# thread hop costs ~0.1 ms, noise beside a prompt of 4,000 tokens and more.
OFFLOAD_BYTES = 16 * 1024
# A kept stream is reduced to its text every this many events: a chat chunk's event is
# ~200 bytes for a token of ~4 characters, so a long stream held as raw events cost ~100 KB
# a minute of the agent's memory per open stream (bench/streams.py).
COMPACT_EVERY = 32

# Runs fn(*args) on the scan thread and returns its result (`SafetyStage.off_loop`).
Offload = Callable[..., Awaitable[Any]]


class RequestSafety:
    """Inline verdicts so far, plus what the off-path check and capture will need."""

    def __init__(
        self, engine: SafetyEngine, operation: str, offload: Offload | None = None
    ) -> None:
        self.engine = engine
        self.operation = operation
        self._offload = offload
        self.body_size: int | None = None  # the request body's length in bytes, once known
        self.verdicts: list[SafetyVerdict] = []
        self.block: Block | None = None
        self.body: dict | None = None  # the (redacted) request, if still needed
        self.output: list[bytes] = []  # the forwarded response, if still needed
        self._text: list[str] = []  # text of the stream's events already compacted
        self._compact_at = COMPACT_EVERY  # kept pieces before the next compaction
        self._kept = 0  # bytes in `output`
        self.output_truncated = False  # True when a very long response outgrew the cap
        self.input_checked = not engine.enabled(INPUT)
        self.output_checked = not engine.enabled(OUTPUT)
        # Texts are kept (bounded) for the off-path step when captured or described.
        c = engine.config
        self._capture = c.capture_text or (c.text_descriptors and c.enabled)
        self._sse: SSEFilter | None = None

    # ---- request path --------------------------------------------------------------------

    def check_request(self, body: dict, size: int | None = None) -> Block | None:
        """Inline check of the request body (redacted in place); a Block means refuse it.
        `size`: the body's length in bytes, if the caller knows it (saves measuring it).
        Also refuses asking for output the output filters cannot rewrite (logprobs, token
        ids) and a prompt the input filters cannot read (token ids, embeddings)."""
        self.body_size = size
        if self._refused_fields(body):
            return self.block
        d = self.engine.inspect_request(body, self.operation) if self.engine.inline(INPUT) else None
        return self._took_request(d, body)

    async def check_request_async(self, body: dict, size: int | None = None) -> Block | None:
        """`check_request`, run on the scan thread when the body is over `OFFLOAD_BYTES`
        (the caller must leave `body` alone until this returns)."""
        if not (self.engine.inline(INPUT) and self._offload is not None):
            return self.check_request(body, size)
        self.body_size = size
        if self._refused_fields(body):
            return self.block
        if self._body_bytes(body) <= OFFLOAD_BYTES:
            return self.check_request(body, self.body_size)
        d = await self._offload(self.engine.inspect_request, body, self.operation)
        return self._took_request(d, body)

    def check_response(self, payload: bytes) -> bytes:
        """Inline check of a non-streamed JSON response; returns the bytes to send."""
        if self.engine.inline(OUTPUT):
            payload = self._inspect_json(payload)
        self.keep_output(payload)
        return payload

    async def check_response_async(self, payload: bytes) -> bytes:
        """`check_response`, run on the scan thread when `payload` is over `OFFLOAD_BYTES`."""
        if (
            self.engine.inline(OUTPUT)
            and self._offload is not None
            and len(payload) > OFFLOAD_BYTES
        ):
            payload = await self._offload(self._inspect_json, payload)
        elif self.engine.inline(OUTPUT):
            payload = self._inspect_json(payload)
        self.keep_output(payload)
        return payload

    def scan_size(self) -> int:
        """Bytes the off-path check will read: the kept request body and response."""
        body = self._body_bytes(self.body) if self.body is not None else 0
        return body + self._kept

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
            if len(self.output) >= self._compact_at:
                self._compact()

    def output_text(self) -> str:
        """The completion text of what was kept (a stream's or a JSON body's)."""
        rest = b"".join(self.output)
        if not self._text:
            return texts.output_text(rest) if rest else ""
        return "".join(self._text) + texts.sse_text(rest)

    def _compact(self) -> None:
        """A stream's complete events so far become their text; the rest stays raw. A body
        that is not a stream (one JSON document in pieces) stays as it came, and is never
        looked at again; a stream with no event end in sight (one endless event from a
        hostile upstream) is looked at after twice as many pieces each time, so the joins
        copy each byte a bounded number of times, not once per 32 pieces."""
        raw = b"".join(self.output)
        lf, crlf = raw.rfind(b"\n\n"), raw.rfind(b"\r\n\r\n")  # an event's blank line
        end = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
        self.output = [raw]
        if not (self._text or texts.is_sse(raw)):
            self._compact_at = MAX_KEPT_BYTES  # not a stream: more pieces than bytes kept
            return
        if not end:  # no complete event yet
            self._compact_at *= 2
            return
        self._text.append(texts.sse_text(raw[:end]))
        self.output = [raw[end:]] if end < len(raw) else []
        self._compact_at = COMPACT_EVERY

    @property
    def needs_offpath(self) -> bool:
        """True when texts still have to be scanned (or captured) off the request path."""
        return not (self.input_checked and self.output_checked) or self._capture

    # ---- internals -----------------------------------------------------------------------

    def _refused_fields(self, body: dict) -> bool:
        """True (and `block` set) when the body asks for output no filter can rewrite."""
        d = self.engine.check_fields(body, self.operation)
        if d is None:
            return False
        self.verdicts.extend(d.verdicts)
        self.block = d.block
        self._took_request(None, body)  # the input's flag-only check still runs off-path
        return True

    def _took_request(self, d, body: dict) -> Block | None:
        if d is not None:
            self.verdicts.extend(d.verdicts)
            self.input_checked = True
            self.block = d.block
        if self._capture or not self.input_checked:
            self.body = body
        return self.block

    def _body_bytes(self, body: dict) -> int:
        if self.body_size is None:  # the caller did not say: ~1 ms per MiB, in C
            try:
                self.body_size = len(orjson.dumps(body))
            except orjson.JSONEncodeError:  # e.g. an int past 64 bits: take it as big
                self.body_size = OFFLOAD_BYTES + 1
        return self.body_size

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
