"""Fuzzing the agent in front of the real vLLM (tiny model) with vLLM's own OpenAPI description.

Same cases and invariants as tests/fuzz/test_fuzz_uvicorn.py, but every 5xx must carry
vLLM's error envelope (the agent's own error types never) since vLLM keeps no log of what
it answered. Generation is kept short: `max_tokens` and friends are capped before a case
is sent, and positive cases name the served model (else nearly all stop at vLLM's 404).
"""

from __future__ import annotations

import pytest

from tests.fuzz.harness import Invariants
from tests.fuzz.openapi import FIXED, NEGATIVE, POSITIVE, fuzz_operation, load_operations, scale

pytestmark = [pytest.mark.vllm, pytest.mark.fuzz, pytest.mark.integration]

# 2,702 cases; with tests/fuzz/test_fuzz_uvicorn.py's 7,310 over 10,000.
BUDGET = [
    ("POST /v1/chat/completions", POSITIVE, 500),
    ("POST /v1/chat/completions", NEGATIVE, 150),
    ("POST /v1/completions", POSITIVE, 800),
    ("POST /v1/completions", NEGATIVE, 400),
    ("POST /tokenize", POSITIVE, 200),
    ("POST /tokenize", NEGATIVE, 50),
    ("POST /detokenize", POSITIVE, 300),
    ("POST /detokenize", NEGATIVE, 300),
    *((label, POSITIVE, 1) for label in FIXED),
]
# Upper bounds on what a case may ask vLLM to generate (two cores, a shared CI machine).
CAPS = {
    "max_tokens": 2,
    "max_completion_tokens": 2,
    "min_tokens": 0,
    "n": 1,
    "best_of": 1,
    "logprobs": 2,
    "top_logprobs": 2,
    "prompt_logprobs": 2,
}


def _capper(model: str, positive: bool):
    def prepare(case) -> None:
        body = case.body
        if not isinstance(body, dict):
            return
        for key, cap in CAPS.items():
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > cap:
                body[key] = cap
        body.setdefault("max_tokens", 2)  # vLLM's default is the whole context
        body.pop("use_beam_search", None)
        if positive:
            body["model"] = model

    return prepare


@pytest.fixture(scope="module")
def invariants(stack):
    store = stack.agent.settings.store.path
    return Invariants(stack.url, stack.sink, store, upstream_sent=None, record_wait_s=60)


@pytest.mark.parametrize(("label", "mode", "cases"), BUDGET, ids=lambda v: str(v))
def test_vllm_schema_cases_through_agent_to_real_vllm(stack, invariants, label, mode, cases):
    operation = load_operations()[label]
    n = max(1, round(cases * scale()))
    prepare = _capper(stack.model, mode == POSITIVE)
    sent, seconds = fuzz_operation(operation, mode, n, stack.url, invariants, prepare)
    invariants.settle()
    print(
        f"\nfuzz vllm {label} {mode.value}: {sent} cases in {seconds:.1f} s {invariants.statuses}"
    )
    for (what, status), kept in sorted(invariants.samples.items()):
        if what.startswith(f"{mode.value} {label}"):
            print(f"  e.g. {status}: {kept[-1][:600]}")
    assert sent >= 1
