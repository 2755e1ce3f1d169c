"""`RequestRecord` -> an Elastic Common Schema document (plus `gen_ai.*` and `inferwatch.*`).

The field names here and the mapping in `template.py` describe the same document; a unit
test holds every leaf of a full document against the mapping.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent import __version__
from agent.record import STATUS_ERROR, STATUS_OK, RequestRecord

_OUTCOME = {STATUS_OK: "success", STATUS_ERROR: "failure"}  # cancelled: unknown


@dataclass(frozen=True, slots=True)
class DocContext:
    """What every document shares: who produced it."""

    service_name: str = "inferwatch"
    service_version: str = __version__
    host_name: str = field(default_factory=socket.gethostname)
    provider: str = "vllm"


def to_document(r: RequestRecord, ctx: DocContext, cost_status: str | None = None) -> dict:
    """The ECS document of one record (empty values are left out). Takes a
    `RequestRecord` or anything with its attributes (`agent.store.rows.StoredRecord`);
    `cost_status` is the store row's ("final", or "lost" when the cost never came)."""
    doc = {
        "@timestamp": datetime.fromtimestamp(r.wall_time, UTC).isoformat(timespec="microseconds"),
        "event": _event(r),
        "trace": {"id": r.trace_id},
        "span": {"id": r.span_id},
        "service": {"name": ctx.service_name, "version": ctx.service_version},
        "host": {"name": ctx.host_name},
        "http": {"request": {"id": r.request_id}, "response": {"status_code": r.http_status}},
        "url": {"path": r.path},
        "user": {"id": r.tenant},
        "gen_ai": _gen_ai(r, ctx),
        "inferwatch": _inferwatch(r, cost_status),
    }
    if r.error_type or r.error_message:
        doc["error"] = _compact({"type": r.error_type, "message": r.error_message})
    if r.extra:
        doc["labels"] = dict(r.extra)
    return doc


def _event(r: RequestRecord) -> dict:
    return {
        "kind": "event",
        "category": ["web"],
        "type": ["access"],
        "dataset": "inferwatch.requests",
        "duration": r.end_ns - r.start_ns,
        "outcome": _OUTCOME.get(r.status, "unknown"),
    }


def _gen_ai(r: RequestRecord, ctx: DocContext) -> dict:
    response = _compact(
        {
            "model": r.response_model,
            "finish_reasons": [r.finish_reason] if r.finish_reason else None,
        }
    )
    server = _compact(
        {
            "request": {"duration": r.duration_s},
            "time_to_first_token": r.ttft_s,
            "time_per_output_token": r.tpot_s,
        }
    )
    usage = _compact({"input_tokens": r.prompt_tokens, "output_tokens": r.completion_tokens})
    return _compact(
        {
            "operation": {"name": r.operation},
            "provider": {"name": ctx.provider},
            "request": _compact({"model": r.model or None}),
            "response": response,
            "server": server,
            "usage": usage,
        }
    )


def _inferwatch(r: RequestRecord, cost_status: str | None) -> dict:
    cost = _compact(
        {
            "currency": r.cost_currency,
            "amount": r.cost_amount,
            "device_seconds": r.cost_device_seconds,
            "joules": r.cost_joules,
            "status": cost_status,
        }
    )
    out = {
        "status": r.status,
        "stream": r.stream,
        "agent_overhead_ns": r.overhead_ns,
        "parent_span_id": r.parent_span_id,
        # The client's x-request-id: a correlation field only (`_id` and http.request.id are
        # the agent's own). Not in `labels` (those are the agent's `extra`, which it could
        # collide with), not ECS-reserved: our namespace, mapped as a keyword.
        "client_request_id": getattr(r, "client_request_id", None),
        "cost": cost,
        # Several upstreams (agent/routing): the experiment, the upstream that answered, and
        # for a shadow copy the request it copied (`http.request.id` of that document).
        "experiment": r.experiment,
        "variant": r.variant,
        "shadow_of": r.shadow_of,
        "safety": _safety(r),
        "prompt_text": r.prompt_text,
        "completion_text": r.completion_text,
        "text_stats": r.text_stats,
    }
    return _compact(out)


def _safety(r: RequestRecord) -> dict:
    v = r.safety
    return {
        "hits": sum(x.count for x in v),
        "blocked": any(x.action == "block" for x in v),
        "filters": sorted({x.filter for x in v}),
        "actions": sorted({x.action for x in v}),
        "directions": sorted({x.direction for x in v}),
    }


def _compact(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None and v != {} and v != []}
