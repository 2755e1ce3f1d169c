"""Guardrail results of a record in OpenTelemetry GenAI terms (`gen_ai.guardrail.*`).

The conventions (development status) describe an event `gen_ai.guardrail.result` with
`gen_ai.guardrail.{component.name, policy.id, result.type, result.reason}`; the span
also gets a summary of the same keys so traces can be searched by them.
"""

from __future__ import annotations

from agent.record import RequestRecord

COMPONENT = "inferwatch.safety"
EVENT = "gen_ai.guardrail.result"
_RESULT = {"flag": "flagged", "redact": "redacted", "block": "blocked"}
_STRENGTH = ("flag", "redact", "block")


def guardrail_attributes(r: RequestRecord) -> dict:
    """Span attributes summarising the record's verdicts ({} when there are none)."""
    if not r.safety:
        return {}
    strongest = max((v.action for v in r.safety), key=_STRENGTH.index)
    return {
        "gen_ai.guardrail.component.name": COMPONENT,
        "gen_ai.guardrail.policy.id": sorted({v.filter for v in r.safety}),
        "gen_ai.guardrail.result.type": _RESULT[strongest],
        "gen_ai.guardrail.result.reason": "; ".join(
            f"{v.direction} {v.filter} {v.action} x{v.count}" for v in r.safety
        ),
    }


def guardrail_events(r: RequestRecord) -> list[tuple[str, dict]]:
    """One `gen_ai.guardrail.result` event (name, attributes) per verdict."""
    return [
        (
            EVENT,
            {
                "gen_ai.guardrail.component.name": COMPONENT,
                "gen_ai.guardrail.policy.id": v.filter,
                "gen_ai.guardrail.result.type": _RESULT[v.action],
                "gen_ai.guardrail.result.reason": f"{v.count} hit(s) on {v.direction}",
                "inferwatch.safety.direction": v.direction,
            },
        )
        for v in r.safety
    ]
