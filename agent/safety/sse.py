"""Applies the sliding-window output filter to an OpenAI-style server-sent event stream.

Takes the complete events the proxy is about to forward, runs each text of each choice
(content, reasoning, refusal, tool calls' names and arguments) through its own
`StreamFilter`, and rewrites only the events whose text changed. On a block the
current event ends its choices with `finish_reason: content_filter`, `[DONE]` follows and
the caller stops reading the upstream.
"""

from __future__ import annotations

import copy
from collections import Counter

import orjson

from agent.safety import text as slots
from agent.safety.engine import FINISH_BLOCKED
from agent.safety.stream import StreamFilter

_SEP = b"\n\n"
_DONE = b"data: [DONE]\n\n"


def _data(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return None


class SSEFilter:
    """`process(complete_events) -> (bytes_to_forward, stop)`; `counts` after the stream."""

    def __init__(self, engine) -> None:
        self._engine = engine
        self._filters: dict[tuple, StreamFilter] = {}  # (choice index, stream key) ->
        self._stopped: set = set()  # indexes of the choices a filter blocked
        self._last: dict | None = None  # the last JSON event, template for a tail event
        self.blocked = False

    @property
    def counts(self) -> Counter:
        total: Counter = Counter()
        for f in self._filters.values():
            total += f.counts
        return total

    @property
    def blocked_by(self) -> str | None:
        """The filter that blocked the stream, if one did."""
        for f in self._filters.values():
            if f.blocked is not None:
                return f.blocked.filter
        return None

    def process(self, complete: bytes) -> tuple[bytes, bool]:
        out: list[bytes] = []
        for event in complete.split(_SEP)[:-1]:
            data = _data(event)
            if data == b"[DONE]":
                out.append(self.held_event())
                out.append(event + _SEP)
                continue
            obj = self._json(data)
            if obj is None:
                out.append(event + _SEP)
                continue
            changed = self._choices(obj)
            out.append(b"data: " + orjson.dumps(obj) + _SEP if changed else event + _SEP)
            if self.blocked:
                out.append(_DONE)
                break
        return b"".join(out), self.blocked

    @staticmethod
    def _json(data: bytes | None) -> dict | None:
        if not data:
            return None
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        return obj if isinstance(obj, dict) and isinstance(obj.get("choices"), list) else None

    def _choices(self, obj: dict) -> bool:
        self._last = obj
        changed = False
        for choice in obj["choices"]:
            if not isinstance(choice, dict):
                continue
            if self.blocked:  # the rest of the event is unchecked: none of it goes out
                changed |= _empty(choice)
            else:
                changed |= self._choice(choice)
        return changed

    def _filter(self, index: object, key: slots.StreamKey) -> StreamFilter:
        f = self._filters.get((index, key))
        if f is None:
            f = self._filters[(index, key)] = StreamFilter(self._engine)
        return f

    def _choice(self, choice: dict) -> bool:
        """Filter each text of one choice (content, reasoning, refusal, tool calls: each its
        own stream and window); at its finish_reason, add what the windows still hold."""
        index = choice.get("index", 0)
        out: dict = {}  # key -> (slot or None, text before, text to send)
        for key, slot in slots.delta_slots(choice):
            before = slots.read(slot)
            out[key] = (slot, before, self._feed(index, key, before))
        if not self._choice_blocked(index) and choice.get("finish_reason"):
            for (i, key), f in list(self._filters.items()):
                if i != index:
                    continue
                tail = f.finish()  # may find a block in the held tail
                self._note(index, f)
                if tail:
                    slot, before, text = out.get(key, (None, "", ""))
                    out[key] = (slot, before, text + tail)
        if self._choice_blocked(index):
            self.blocked = True
            choice["finish_reason"] = FINISH_BLOCKED
        changed = self.blocked
        for key, (slot, before, text) in out.items():
            if text == before:
                continue
            if slot is None:
                slots.put(choice, key, text)
            else:
                slots.write(slot, text)
            changed = True
        return changed

    def _feed(self, index: object, key: slots.StreamKey, text: str) -> str:
        if self._choice_blocked(index):
            return ""  # after a block nothing more of this choice goes out
        f = self._filter(index, key)
        sent = f.feed(text)[0] if text else ""
        if isinstance(key, tuple) and key[2] == "name":
            sent += f.finish()  # a tool's name comes whole in one event: no window
        self._note(index, f)
        return sent

    def _note(self, index: object, f: StreamFilter) -> None:
        if f.blocked is not None:
            self._stopped.add(index)

    def _choice_blocked(self, index: object) -> bool:
        return index in self._stopped

    def held_event(self) -> bytes:
        """Text still held when `[DONE]` comes without a finish_reason: one last event."""
        tails: dict = {}  # choice index -> {stream key: text}
        for (i, key), f in self._filters.items():
            tail = f.finish()
            if tail:
                tails.setdefault(i, {})[key] = tail
        ends = {i: FINISH_BLOCKED for (i, _), f in self._filters.items() if f.blocked is not None}
        self.blocked = self.blocked or bool(ends)
        for i in ends:
            tails.setdefault(i, {})
        if not tails or self._last is None:
            return b""
        obj = copy.deepcopy(self._last)
        chat = any("delta" in c for c in obj["choices"] if isinstance(c, dict))
        obj["choices"] = []
        for i, texts in tails.items():
            choice: dict = {"index": i, "delta": {}} if chat else {"index": i, "text": ""}
            for key, text in texts.items():
                slots.put(choice, key, text)
            choice["finish_reason"] = ends.get(i)
            obj["choices"].append(choice)
        obj.pop("usage", None)
        return b"data: " + orjson.dumps(obj) + _SEP


def _empty(choice: dict) -> bool:
    """Blank every text of a choice; True when there was any."""
    found = slots.delta_slots(choice)
    for _, slot in found:
        slots.write(slot, "")
    return bool(found)


class SSEGuard:
    """What the proxy's SSE relay calls for each piece it forwards: filter it when output
    filters run inline, and keep it for the off-path check or capture. A no-op without
    per-request safety state."""

    def __init__(self, state) -> None:  # state: RequestSafety | None
        self._state = state
        self._filter: SSEFilter | None = state.stream() if state is not None else None
        self.stopped = False

    def pass_on(self, piece: bytes) -> bytes:
        """The bytes to forward for `piece` (complete events); sets `stopped` on a block."""
        if not piece or self._state is None:
            return piece
        if self._filter is not None:
            piece, self.stopped = self._filter.process(piece)
        self._state.keep_output(piece)
        return piece

    def finish(self, tail: bytes) -> bytes:
        """The bytes to forward when the upstream ended: its unterminated last event, and
        any text still held back if no `[DONE]` came."""
        if self._state is None or self._filter is None:
            return self.pass_on(tail)
        if self.stopped:
            return b""
        out = self._filter.process(tail + _SEP)[0] if tail.strip() else b""
        out += self._filter.held_event()
        self.stopped = self._filter.blocked
        self._state.keep_output(out)
        return out
