"""Server-sent events passing through: split into whole events, watch them, forward them.

Chunks are forwarded as soon as they complete an event (never the whole stream). Only a
few events are parsed: those before the first token, and the ones that carry `usage` or a
`finish_reason` (found by a cheap byte search first), so long streams cost little.
"""

from __future__ import annotations

import re

import orjson

_SEP = b"\n\n"
# One pass over the bytes (a chain of `in` tests in generators cost more than the rest).
_NOTABLE = re.compile(rb'"usage": ?\{|"finish_reason": ?"|"error"')


def _has_done(complete: bytes) -> bool:
    """Whether whole events hold the end-of-stream event `data: [DONE]` (at an event's
    start: raw newlines never occur inside JSON, so a completion's text cannot fake it).
    Byte searches: a regex anchored at line starts cost 20 us a stream here."""
    if b"[DONE]" not in complete:
        return False
    for marker in (b"data: [DONE]", b"data:[DONE]"):
        if complete.startswith(marker) or b"\n\n" + marker in complete:
            return True
    return False


def _payload(event: bytes) -> dict | None:
    """The JSON object of a `data:` event, or None (comments, [DONE], non-JSON)."""
    lines = (event,) if b"\n" not in event else event.split(b"\n")  # one line: the usual case
    for line in lines:
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data and data != b"[DONE]":
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    return None
                return obj if isinstance(obj, dict) else None
    return None


def _notable(data: bytes) -> bool:
    """Whether these bytes may hold usage, a finish reason or an error (cheap byte search)."""
    return _NOTABLE.search(data) is not None


def _has_token(obj: dict) -> bool:
    for choice in obj.get("choices") or ():
        delta = choice.get("delta")
        if delta is not None:
            if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"):
                return True
        elif choice.get("text"):
            return True
    return False


class SSEWatcher:
    """Feeds on an upstream SSE byte stream; returns what to forward to the client.

    After the stream: `first_token` (set by the caller's clock via `on_first_token`),
    `usage`, `finish_reason`, `response_model`, `error`.
    """

    def __init__(self, drop_usage_event: bool, on_first_token) -> None:
        self._drop_usage = drop_usage_event
        self._on_first_token = on_first_token
        self._buf = b""
        self.seen_token = False
        self.usage: dict | None = None
        self.finish_reason: str | None = None
        self.response_model: str | None = None
        self.error: dict | None = None
        self.done = False  # the `data: [DONE]` event went by: the stream is complete

    def feed(self, chunk: bytes) -> bytes:
        """Take a chunk from upstream; return the bytes of the events it completed."""
        buf = self._buf + chunk if self._buf else chunk
        if b"\r\n" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        if buf.endswith(_SEP):  # the usual case: whole events, nothing to carry over
            complete, self._buf = buf, b""
        else:
            end = buf.rfind(_SEP)
            if end < 0:
                self._buf = buf
                return b""
            end += 2
            complete, self._buf = buf[:end], buf[end:]
        if b"[DONE]" in complete and _has_done(complete):  # inline test: once per chunk
            self.done = True
        if not self.seen_token or _notable(complete):
            return self._inspect(complete)
        return complete

    def tail(self) -> bytes:
        """Whatever is left when the upstream closes (an unterminated last event)."""
        rest, self._buf = self._buf, b""
        return rest

    def _inspect(self, complete: bytes) -> bytes:
        """Watch the events of `complete` (whole events); returns them, less a dropped
        usage event. Before the first token every event is parsed; after it only those the
        byte search flags (a chunk may hold a whole stream when the upstream is fast)."""
        drop: list[tuple[int, int]] = []  # spans of events to leave out
        pos, size = 0, len(complete)
        while pos < size:
            if self.seen_token:
                m = _NOTABLE.search(complete, pos)
                if m is None:
                    break
                head = complete.rfind(_SEP, pos, m.start())
                pos = pos if head < 0 else head + 2  # the flagged event starts here
            end = complete.find(_SEP, pos)
            end = size if end < 0 else end + 2
            obj = _payload(complete[pos : end - 2])
            if obj is not None and self._watch(obj):
                drop.append((pos, end))
            pos = end
        if not drop:
            return complete
        keep, last = [], 0
        for a, b in drop:
            keep.append(complete[last:a])
            last = b
        keep.append(complete[last:])
        return b"".join(keep)

    def _watch(self, obj: dict) -> bool:
        """Note what an event says; True when it is the usage-only event to drop."""
        if self.response_model is None:
            self.response_model = obj.get("model")
        if "error" in obj and "choices" not in obj:
            self.error = (
                obj["error"] if isinstance(obj["error"], dict) else {"message": obj["error"]}
            )
        if not self.seen_token and _has_token(obj):
            self.seen_token = True
            self._on_first_token()
        choices = obj.get("choices") or ()
        for choice in choices:
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        usage = obj.get("usage")
        if usage:
            self.usage = usage
            return self._drop_usage and not choices
        return False
