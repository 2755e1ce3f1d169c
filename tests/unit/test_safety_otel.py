"""Guardrail attributes and events of a record's span (`gen_ai.guardrail.*`)."""

import pytest

from agent.record import SafetyVerdict
from agent.safety.otel import guardrail_attributes, guardrail_events
from tests.records import make_record

pytestmark = pytest.mark.unit


def test_no_verdicts_no_attributes():
    assert guardrail_attributes(make_record()) == {} and guardrail_events(make_record()) == []


def test_strongest_action_and_every_policy_are_on_the_span():
    r = make_record(
        safety=(
            SafetyVerdict("pii.email", "input", "flag", 2),
            SafetyVerdict("secret.jwt", "output", "redact"),
        )
    )
    a = guardrail_attributes(r)
    assert a["gen_ai.guardrail.result.type"] == "redacted"
    assert a["gen_ai.guardrail.policy.id"] == ["pii.email", "secret.jwt"]
    assert "input pii.email flag x2" in a["gen_ai.guardrail.result.reason"]
    events = guardrail_events(r)
    assert [e[0] for e in events] == ["gen_ai.guardrail.result"] * 2
    assert events[1][1]["gen_ai.guardrail.policy.id"] == "secret.jwt"
