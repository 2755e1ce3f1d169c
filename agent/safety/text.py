"""Where the text is in OpenAI-style bodies: slots that can be read and rewritten in place."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

from agent.safety.walk import Slot, read, request_walk, write

__all__ = ["Slot", "read", "write", "request_slots", "request_texts", "response_slots"]


def _message_slots(msg: dict) -> Iterator[Slot]:
    """The text slots of a response message: content (or its text parts) and tool-call
    arguments."""
    content = msg.get("content")
    if isinstance(content, str):
        yield msg, "content"
    elif isinstance(content, list):  # multimodal parts: only the text ones
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            yield fn, "arguments"


def request_slots(body: dict, operation: str) -> list[Slot]:
    """Slots of every string of a request body that is rendered into the prompt (see
    `agent.safety.walk`)."""
    return request_walk(body, operation).slots


def response_slots(obj: dict) -> list[Slot]:
    """Text slots of a non-streamed chat or text completion response."""
    slots: list[Slot] = []
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("text"), str):
            slots.append((choice, "text"))
        msg = choice.get("message")
        if isinstance(msg, dict):
            slots.extend(_message_slots(msg))
    return slots


def delta_slot(choice: dict) -> Slot | None:
    """The text slot of one streamed choice (`delta.content` or `text`), if any."""
    delta = choice.get("delta")
    if isinstance(delta, dict):
        return (delta, "content") if isinstance(delta.get("content"), str) else None
    return (choice, "text") if isinstance(choice.get("text"), str) else None


def request_texts(body: dict, operation: str) -> list[str]:
    """The texts of a request body."""
    return [read(s) for s in request_slots(body, operation)]


def output_text(raw: bytes) -> str:
    """The completion text in a forwarded response: an SSE stream or one JSON body."""
    if raw.lstrip().startswith(b"data:") or b"\ndata:" in raw[:4096]:
        return _sse_text(raw)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    return "\n".join(read(s) for s in response_slots(obj)) if isinstance(obj, dict) else ""


# The text of a streamed event is the string value of a `content` (chat delta) or `text`
# (completion choice) key. Inside a JSON string every quote is escaped, so `"content":`
# followed by a quote can only be that key and its value; other keys of those names hold
# lists or objects (logprobs) and are skipped. One regex pass (C) finds them all, in order:
# a Python loop of byte searches per value cost 1.4-1.6x more (16 and 200-token streams).
_TEXT_VALUE = re.compile(rb'"(?:content|text)":[ \t]*"((?:[^"\\]|\\.)*)"', re.DOTALL)


def _sse_text(raw: bytes) -> str:
    """The completion text of a forwarded stream, in order (an unterminated last value, a
    stream cut off mid-string, is left out)."""
    values = _TEXT_VALUE.findall(raw)
    joined = b"".join(values)
    if b"\\" not in joined:  # no JSON escapes: the bytes are the text
        return joined.decode("utf-8", "replace")
    parts: list[str] = []
    for value in values:
        if b"\\" in value:  # JSON escapes: let a JSON parser undo them
            try:
                parts.append(orjson.loads(b'"' + value + b'"'))
            except orjson.JSONDecodeError:
                continue
        else:
            parts.append(value.decode("utf-8", "replace"))
    return "".join(parts)
