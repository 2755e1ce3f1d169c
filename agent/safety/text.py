"""Where the text is in OpenAI-style bodies: slots that can be read and rewritten in place."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

from agent.safety.walk import Slot, read, request_walk, write

__all__ = ["Slot", "read", "write", "request_slots", "request_texts", "response_slots"]


# Text fields of a response message or stream delta besides tool calls: the answer, the
# reasoning (vLLM 0.32 sends `reasoning`; older versions and other servers
# `reasoning_content`) and a refusal. All are model output.
MESSAGE_TEXT = ("content", "reasoning", "reasoning_content", "refusal")
TOOL_TEXT = ("name", "arguments")  # of a tool call's `function`


def _message_slots(msg: dict) -> Iterator[Slot]:
    """The text slots of a response message: content (or its text parts), reasoning,
    refusal, and tool calls' names and arguments."""
    content = msg.get("content")
    if isinstance(content, list):  # multimodal parts: only the text ones
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part, "text"
    for key in MESSAGE_TEXT:
        if isinstance(msg.get(key), str):
            yield msg, key
    for _, fn, key in _tool_slots(msg):
        yield fn, key


def _tool_slots(msg: dict) -> Iterator[tuple[object, dict, str]]:
    """(call index, function, key) of each tool-call name and arguments string."""
    calls = msg.get("tool_calls")
    for pos, call in enumerate(calls if isinstance(calls, list) else ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        index = call.get("index", pos)
        for key in TOOL_TEXT:
            if isinstance(fn.get(key), str):
                yield (index if isinstance(index, int) else str(index)), fn, key


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


def drop_tokens(obj: dict) -> None:
    """Empty what repeats a response's text as tokens (`logprobs`, `token_ids`), which a
    redaction or block leaves as it was."""
    for choice in obj.get("choices") or ():
        if isinstance(choice, dict):
            for key in ("logprobs", "token_ids"):
                if choice.get(key) is not None:
                    choice[key] = None


# Which text of a streamed choice a slot holds: "text" (completions), a MESSAGE_TEXT key,
# or ("tool", call index, "name" or "arguments"). Each is a stream of its own.
StreamKey = str | tuple[str, object, str]


def delta_slots(choice: dict) -> list[tuple[StreamKey, Slot]]:
    """The text slots of one streamed choice, each with the key of the stream it
    continues: `text`, or the delta's content, reasoning, refusal and tool calls."""
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return [("text", (choice, "text"))] if isinstance(choice.get("text"), str) else []
    found: list[tuple[StreamKey, Slot]] = [
        (key, (delta, key)) for key in MESSAGE_TEXT if isinstance(delta.get(key), str)
    ]
    found.extend((("tool", i, key), (fn, key)) for i, fn, key in _tool_slots(delta))
    return found


def put(choice: dict, key: StreamKey, text: str) -> None:
    """Add `text` to a streamed choice as more of stream `key`, making the slot if the
    choice has none (the held tail of a stream goes out in a later event)."""
    if key == "text":
        choice["text"] = text
        return
    delta = choice.get("delta")
    if not isinstance(delta, dict):  # absent (or null): the tail makes one
        delta = choice["delta"] = {}
    if isinstance(key, str):
        delta[key] = text
        return
    _, index, field = key
    calls = delta.get("tool_calls")
    if not isinstance(calls, list):
        calls = delta["tool_calls"] = []
    for call in calls:
        if isinstance(call, dict) and call.get("index") == index:
            fn = call.get("function")
            if isinstance(fn, dict):
                fn[field] = text
                return
    calls.append({"index": index, "function": {field: text}})


def request_texts(body: dict, operation: str) -> list[str]:
    """The texts of a request body."""
    return [read(s) for s in request_slots(body, operation)]


def is_sse(raw: bytes) -> bool:
    """Whether forwarded response bytes are an SSE stream (else one JSON body)."""
    return raw.lstrip().startswith(b"data:") or b"\ndata:" in raw[:4096]


def output_text(raw: bytes) -> str:
    """The completion text in a forwarded response: an SSE stream or one JSON body."""
    if is_sse(raw):
        return sse_text(raw)
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    return "\n".join(read(s) for s in response_slots(obj)) if isinstance(obj, dict) else ""


# The text of a streamed event is the string value of a `content`, reasoning, `refusal` or
# tool-call `arguments` key (chat delta) or a `text` key (completion choice). Inside a JSON
# string every quote is escaped, so `"content":` followed by a quote can only be that key
# and its value; other keys of those names hold lists or objects (logprobs) and are
# skipped. One regex pass (C) finds them all, in order: a Python loop of byte searches per
# value cost 1.4-1.6x more (16 and 200-token streams).
_TEXT_VALUE = re.compile(
    rb'"(?:content|text|reasoning|reasoning_content|refusal|arguments)":[ \t]*"((?:[^"\\]|\\.)*)"',
    re.DOTALL,
)


def sse_text(raw: bytes) -> str:
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
