"""The request-log fields the saved objects name, held to the mapping the agent installs
(`agent.shipping.template.MAPPING`), with the labels and formats the data view gives them."""

from __future__ import annotations

from agent.shipping.template import MAPPING

TIME_FIELD = "@timestamp"

# Short column headers in Discover (the data view's custom labels).
LABELS = {
    "gen_ai.request.model": "model",
    "user.id": "tenant",
    "http.response.status_code": "HTTP status",
    "event.outcome": "outcome",
    "gen_ai.server.request.duration": "latency",
    "gen_ai.server.time_to_first_token": "TTFT",
    "gen_ai.usage.input_tokens": "input tokens",
    "gen_ai.usage.output_tokens": "output tokens",
    "inferwatch.cost.amount": "cost",
    "inferwatch.cost.currency": "currency",
    "inferwatch.cost.status": "cost status",
    "inferwatch.cost.device_seconds": "device seconds",
    "inferwatch.cost.joules": "joules",
    "inferwatch.safety.hits": "safety hits",
    "http.request.id": "request id",
}

_SECONDS = {
    "id": "duration",
    "params": {"inputFormat": "seconds", "outputFormat": "asMilliseconds", "outputPrecision": 1},
}
# Kibana's default number format keeps 3 decimals: a request's cost (fractions of a cent)
# would show as 0.
FORMATS = {
    "gen_ai.server.request.duration": _SECONDS,
    "gen_ai.server.time_to_first_token": _SECONDS,
    "inferwatch.cost.amount": {"id": "number", "params": {"pattern": "0,0.[00000000]"}},
}


def mapped_fields(mapping: dict = MAPPING) -> set[str]:
    """Every leaf field of an index mapping, dotted (`gen_ai.usage.input_tokens`)."""
    out: set[str] = set()
    for name, spec in mapping.get("properties", {}).items():
        if "properties" in spec:
            out |= {f"{name}.{leaf}" for leaf in mapped_fields(spec)}
        else:
            out.add(name)
    return out


def require_mapped(fields: list[str], what: str) -> None:
    """Raise `ValueError` naming the fields the agent's mapping does not index."""
    missing = sorted(set(fields) - mapped_fields())
    if missing:
        raise ValueError(f"{what}: not in the request-log mapping: {', '.join(missing)}")
