"""Request-log documents (`agent.shipping.ecs.to_document`) mapped back to the names of
`RequestRecord` (`record_of`) and to the rows of the request table (`request_row`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# What the request table reads of each document: never the prompt or completion text.
ROW_SOURCE = [
    "@timestamp",
    "http",
    "user.id",
    "gen_ai",
    "error.type",
    "inferwatch.status",
    "inferwatch.stream",
    "inferwatch.cost",
    "inferwatch.safety.hits",
]

# record field -> document path, for the plain fields.
_PATHS = {
    "request_id": "http.request.id",
    "trace_id": "trace.id",
    "span_id": "span.id",
    "tenant": "user.id",
    "model": "gen_ai.request.model",
    "operation": "gen_ai.operation.name",
    "path": "url.path",
    "stream": "inferwatch.stream",
    "response_model": "gen_ai.response.model",
    "prompt_tokens": "gen_ai.usage.input_tokens",
    "completion_tokens": "gen_ai.usage.output_tokens",
    "status": "inferwatch.status",
    "http_status": "http.response.status_code",
    "error_type": "error.type",
    "error_message": "error.message",
    "parent_span_id": "inferwatch.parent_span_id",
    "overhead_ns": "inferwatch.agent_overhead_ns",
    "latency_s": "gen_ai.server.request.duration",
    "ttft_s": "gen_ai.server.time_to_first_token",
    "tpot_s": "gen_ai.server.time_per_output_token",
    "cost_currency": "inferwatch.cost.currency",
    "cost_amount": "inferwatch.cost.amount",
    "cost_device_seconds": "inferwatch.cost.device_seconds",
    "cost_joules": "inferwatch.cost.joules",
    "cost_status": "inferwatch.cost.status",
    "safety_hits": "inferwatch.safety.hits",
    "safety_filters": "inferwatch.safety.filters",
    "safety_actions": "inferwatch.safety.actions",
    "safety_directions": "inferwatch.safety.directions",
    "prompt_text": "inferwatch.prompt_text",
    "completion_text": "inferwatch.completion_text",
    "text_stats": "inferwatch.text_stats",
    "client_request_id": "inferwatch.client_request_id",
    "extra": "labels",
    "host_name": "host.name",
    "service_name": "service.name",
    "service_version": "service.version",
}


def get(doc: dict, path: str) -> Any:
    """The value at a dotted `path` of a document, or None."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def wall_time(doc: dict) -> float:
    """`@timestamp` as epoch seconds."""
    return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp()


def _finish_reason(doc: dict) -> str | None:
    reasons = get(doc, "gen_ai.response.finish_reasons") or [None]
    return reasons[0]


def request_row(doc: dict, columns: tuple[str, ...]) -> dict:
    """One row of the request table (`api.REQUEST_COLUMNS`) from a document."""
    row = {c: get(doc, _PATHS[c]) for c in columns if c in _PATHS}
    row["wall_time"] = wall_time(doc)
    row["finish_reason"] = _finish_reason(doc)
    row["model"] = row.get("model") or ""  # the agent leaves an empty model out
    row["safety_hits"] = row.get("safety_hits") or 0
    return {c: row.get(c) for c in columns}


def record_of(doc: dict) -> dict:
    """The record's fields as far as the document keeps them: `RequestRecord`'s names
    (durations as `latency_s`, `ttft_s`, `tpot_s`; the verdicts only as their totals and
    sets, `safety_*`), plus where it came from (`host_name`, `service_*`). Text fields
    only when the document has them."""
    out = {name: get(doc, path) for name, path in _PATHS.items()}
    out["wall_time"] = wall_time(doc)
    out["finish_reason"] = _finish_reason(doc)
    out["model"] = out["model"] or ""
    return {k: v for k, v in out.items() if v is not None}
