"""Fuzzing the agent's OpenAI surface with vLLM's own OpenAPI description, in front of the
FastAPI-on-uvicorn test upstream (a stand-in for vLLM, tests/uvicorn_upstream.py).

Positive cases (valid by vLLM's schema) and negative ones (not) go through the agent;
after every case tests/fuzz/harness.py's invariants are checked. The same run against the
real vLLM is tests/integration/vllm/test_fuzz_vllm.py.
"""

from __future__ import annotations

import pytest

from tests.fuzz.harness import Invariants, ThreadedAgent
from tests.fuzz.openapi import FIXED, NEGATIVE, POSITIVE, fuzz_operation, load_operations, scale
from tests.uvicorn_upstream import UvicornUpstream

pytestmark = [pytest.mark.fuzz, pytest.mark.integration]

# (operation, mode, cases): 7,310 in all, the real-vLLM run adds 2,702 (tests/fuzz/openapi.py
# says what each costs).
BUDGET = [
    ("POST /v1/chat/completions", POSITIVE, 1000),
    ("POST /v1/chat/completions", NEGATIVE, 250),
    ("POST /v1/completions", POSITIVE, 2000),
    ("POST /v1/completions", NEGATIVE, 700),
    ("POST /tokenize", POSITIVE, 300),
    ("POST /tokenize", NEGATIVE, 60),
    ("POST /detokenize", POSITIVE, 1500),
    ("POST /detokenize", NEGATIVE, 1500),
    *((label, POSITIVE, 1) for label in FIXED),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The agent in front of the uvicorn stand-in, and the invariants bound to both."""
    store = tmp_path_factory.mktemp("fuzz-store")
    with UvicornUpstream(max_delay_s=0) as up, ThreadedAgent(up.url, store) as agent:

        def sent(rid: str) -> int | None:
            seen = up.seen.get(rid)
            return None if seen is None else seen.status

        yield agent, Invariants(agent.url, agent.sink, agent.store_path, sent)


@pytest.mark.parametrize(("label", "mode", "cases"), BUDGET, ids=lambda v: str(v))
def test_vllm_schema_cases_through_agent_to_uvicorn_stand_in(target, label, mode, cases):
    agent, invariants = target
    operation = load_operations()[label]
    n = max(1, round(cases * scale()))
    sent, seconds = fuzz_operation(operation, mode, n, agent.url, invariants)
    invariants.settle()
    print(f"\nfuzz uvicorn {label} {mode.value}: {sent} cases in {seconds:.1f} s")
    assert sent >= min(n, 1)
