"""Where the text is in OpenAI-style bodies: slots that can be read and rewritten in place."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from agent.record import OP_CHAT, OP_COMPLETION, OP_EMBEDDINGS

Slot = tuple[dict | list, object]  # (container, key): container[key] is a str


def _strings(container: dict | list, key: object) -> Iterator[Slot]:
    """The slot itself if it holds a str, or each str of a list in it."""
    value = container[key]  # type: ignore[index]
    if isinstance(value, str):
        yield container, key
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield value, i


def _message_slots(msg: dict) -> Iterator[Slot]:
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
    """Text slots of a request body: chat messages, completion prompt, embeddings input."""
    if operation == OP_CHAT:
        msgs = body.get("messages")
        if not isinstance(msgs, list):
            return []
        return [s for m in msgs if isinstance(m, dict) for s in _message_slots(m)]
    key = {OP_COMPLETION: "prompt", OP_EMBEDDINGS: "input"}.get(operation)
    if key is None or key not in body:
        return []
    return list(_strings(body, key))


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


def read(slot: Slot) -> str:
    """The text in a slot."""
    container, key = slot
    return container[key]  # type: ignore[index]


def write(slot: Slot, text: str) -> None:
    """Replace the text in a slot."""
    container, key = slot
    container[key] = text  # type: ignore[index]


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
# lists or objects (logprobs) and are skipped.
_TEXT_KEYS = (b'"content":', b'"text":')


def _sse_text(raw: bytes) -> str:
    """The completion text of a forwarded stream, in order. Found with byte searches (C):
    parsing every event (hundreds a stream) cost 3-5x more; `SSEWatcher` avoids it too."""
    found: list[tuple[int, bytes]] = []
    size = len(raw)
    for key in _TEXT_KEYS:
        i = raw.find(key)
        while i >= 0:
            j = i + len(key)
            while j < size and raw[j] in b" \t":
                j += 1
            if j < size and raw[j] == 0x22:  # a string value
                end = _string_end(raw, j + 1)
                if end < 0:
                    break
                if end > j + 1:
                    found.append((i, raw[j + 1 : end]))
                j = end + 1
            i = raw.find(key, j)
    found.sort()  # the two keys were searched one after the other: back to stream order
    parts: list[str] = []
    for _, value in found:
        if b"\\" in value:  # JSON escapes: let a JSON parser undo them
            try:
                parts.append(orjson.loads(b'"' + value + b'"'))
            except orjson.JSONDecodeError:
                continue
        else:
            parts.append(value.decode("utf-8", "replace"))
    return "".join(parts)


def _string_end(raw: bytes, start: int) -> int:
    """Index of the quote that ends the JSON string starting at `start`, or -1."""
    k = raw.find(b'"', start)
    while k >= 0:
        n, b = 0, k - 1
        while b >= start and raw[b] == 0x5C:  # backslashes before it: odd means escaped
            n, b = n + 1, b - 1
        if n % 2 == 0:
            return k
        k = raw.find(b'"', k + 1)
    return -1
