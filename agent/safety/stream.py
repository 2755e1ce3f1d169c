"""Sliding-window filtering of streamed output: redact or block while the text flows.

The filter holds back the last `window` characters of the stream (and any match still
touching the end of what arrived, which may yet grow), so a secret split across chunks
is seen whole before any of it is sent. Everything before the held tail goes out in steps
of a quarter window: redaction delays the stream by at most 1.25 windows, never by the
whole completion.
"""

from __future__ import annotations

from collections import Counter

from agent.safety.config import BLOCK, OFF, REDACT
from agent.safety.scanner import Hit, placeholder, redact

_CONTEXT = 8  # characters of already-sent text kept so look-behinds still see them


class StreamFilter:
    """Per choice of one streamed response: `feed(delta) -> (text_to_emit, blocked)`."""

    def __init__(self, engine, direction: str = "output") -> None:
        self._engine = engine
        self._dir = direction
        self._window = engine.window
        # Rescanning the held window on every token would cost a scan per token: wait until
        # a quarter window more has arrived, so the hold is at most 1.25 windows.
        self._step = max(engine.window // 4, 1)
        self._buf = ""  # received, not yet emitted
        self._ctx = ""  # the last few emitted characters (raw)
        self.counts: Counter = Counter()  # (filter, action) -> hits, each counted once
        self.blocked: Hit | None = None

    def feed(self, delta: str) -> tuple[str, bool]:
        """Take the next piece of text; return what may be sent now and whether to stop."""
        if self.blocked is not None:
            return "", True
        self._buf += delta
        if len(self._buf) < self._window + self._step:
            return "", False
        return self._settle(final=False)

    def finish(self) -> str:
        """The held-back tail at the end of the stream (checked, redacted)."""
        if self.blocked is not None:
            return ""
        text, _ = self._settle(final=True)
        return text

    def _settle(self, final: bool) -> tuple[str, bool]:
        off = len(self._ctx)
        end = len(self._buf)
        hits = [
            Hit(h.filter, h.start - off, h.end - off)
            for h in self._engine.scan(self._ctx + self._buf, self._dir)
            if h.end > off
        ]
        limit = end if final else end - self._window
        for h in hits:  # a match reaching the end may grow: hold it back whole
            if not final and h.end >= end:
                limit = min(limit, max(h.start, 0))
        for h in hits:
            if self._engine.action(h.filter, self._dir) == BLOCK:
                return self._block(h, [x for x in hits if x.end <= h.start])
        settled = [h for h in hits if h.start < limit]
        for h in settled:
            limit = max(limit, h.end)  # a settled match goes out whole (or masked whole)
        return self._emit(max(limit, 0), settled), False

    def _emit(self, limit: int, settled: list[Hit]) -> str:
        raw = self._buf[:limit]
        self._buf = self._buf[limit:]
        self._ctx = (self._ctx + raw)[-_CONTEXT:]
        mask = []
        for h in settled:
            act = self._engine.action(h.filter, self._dir)
            if act != OFF:
                self.counts[(h.filter, act)] += 1
            if act == REDACT:
                mask.append(Hit(h.filter, max(h.start, 0), h.end))
        return redact(raw, mask, placeholder) if mask else raw

    def _block(self, hit: Hit, before: list[Hit]) -> tuple[str, bool]:
        self.blocked = hit
        self.counts[(hit.filter, BLOCK)] += 1
        text = self._emit(max(hit.start, 0), before)
        self._buf = ""
        return text, True
