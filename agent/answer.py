"""What an upstream's answer says, noted into a record's builder: token usage, finish
reason, the model that answered, an error event. Shared by the proxy (the client's
request) and the shadow sender (its copy), so both read an answer the same way."""

from __future__ import annotations

import orjson

from agent.record import STATUS_ERROR, STATUS_OK, RecordBuilder
from agent.sse import SSEWatcher


def fail(rec: RecordBuilder, status: int, err_type: str, message: str) -> None:
    """Mark the record failed with `status`, an error type and a message."""
    rec.set(status=STATUS_ERROR, http_status=status, error_type=err_type, error_message=message)


def count(value: object) -> int | None:
    """A token count as the upstream reported it, when it is one (a non-negative int)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def note_usage(rec: RecordBuilder, usage: object) -> None:
    """Token counts of an OpenAI `usage` object (anything else is not kept)."""
    if isinstance(usage, dict):
        rec.set(
            prompt_tokens=count(usage.get("prompt_tokens")),
            completion_tokens=count(usage.get("completion_tokens")),
        )


def note_json(rec: RecordBuilder, payload: bytes) -> None:
    """Usage, model and finish reason of a non-streamed JSON answer (if it is one)."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return
    if not isinstance(obj, dict):
        return
    note_usage(rec, obj.get("usage"))
    rec.set(response_model=obj.get("model"))
    choices = obj.get("choices")
    if choices and isinstance(choices, list) and isinstance(choices[0], dict):
        rec.set(finish_reason=choices[0].get("finish_reason"))


def note_stream(rec: RecordBuilder, watcher: SSEWatcher) -> None:
    """Usage, model and finish reason a stream told, and its error event if it had one
    (the status stays what the client got: the stream's 200)."""
    note_usage(rec, watcher.usage)
    rec.set(finish_reason=watcher.finish_reason, response_model=watcher.response_model)
    if watcher.error and rec.get("status") == STATUS_OK:
        msg = str(watcher.error.get("message", "error event in stream"))
        code = watcher.error.get("code")
        fail(rec, 200, str(code) if code else "stream_error", msg)
