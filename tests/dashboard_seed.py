"""A seeded request log for the dashboard's tests: plausible records, written by the
agent's own store writer (so the store holds exactly what an agent would write), and the
same records as a pandas frame to compute expected answers from.

Deterministic for a given seed: tenants, models, statuses, finish reasons, safety
verdicts, token counts, latencies and costs are drawn from fixed distributions, spread
over [start, end).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from agent.metrics import new_registry
from agent.record import RequestRecord, SafetyVerdict
from agent.store.config import StoreConfig
from agent.store.stats import StoreStats
from agent.store.writer import StoreWriter

TENANTS = ("acme", "globex", "initech", "anonymous")
MODELS = ("llama-3-8b", "qwen2-7b")
SAFETY = (
    SafetyVerdict("pii.email", "input", "redact", 1),
    SafetyVerdict("secret.aws_key", "output", "block", 1),
    SafetyVerdict("injection", "input", "flag", 2),
)


def seed_records(n: int, start: float, end: float, seed: int = 0) -> list[RequestRecord]:
    """`n` records with wall times uniform in [start, end) (sorted), deterministic."""
    rng = np.random.default_rng(seed)
    walls = np.sort(rng.uniform(start, end, n))
    return [_record(i, float(w), rng) for i, w in enumerate(walls)]


def _record(i: int, wall: float, rng: np.random.Generator) -> RequestRecord:
    tenant = TENANTS[int(rng.choice(4, p=(0.5, 0.25, 0.15, 0.1)))]
    model = MODELS[int(rng.random() < 0.3)]
    stream = bool(rng.random() < 0.6)
    error = rng.random() < 0.05
    prompt = int(rng.lognormal(5, 1)) + 1
    completion = 0 if error else int(rng.lognormal(4, 0.8)) + 1
    ttft_s = float(rng.lognormal(-2.5, 0.6))
    latency_s = ttft_s + completion * float(rng.lognormal(-4, 0.3))
    start_ns = 10**12 + i * 10**9
    cost = None if rng.random() < 0.02 else (prompt * 2e-7 + completion * 1.5e-6)
    safety = (SAFETY[int(rng.integers(3))],) if rng.random() < 0.08 else ()
    return RequestRecord(
        request_id=f"req-{i:08d}",
        trace_id=os.urandom(16).hex(),
        span_id=f"{i:016x}",
        tenant=tenant,
        model=model,
        operation="chat" if rng.random() < 0.9 else "completion",
        path="/v1/chat/completions",
        stream=stream,
        wall_time=wall,
        start_ns=start_ns,
        end_ns=start_ns + int(latency_s * 1e9),
        first_token_ns=None if error else start_ns + int(ttft_s * 1e9),
        response_model=model,
        prompt_tokens=prompt,
        completion_tokens=None if error else completion,
        finish_reason=None if error else ("length" if rng.random() < 0.1 else "stop"),
        status="upstream_error" if error else "ok",
        http_status=502 if error else 200,
        error_type="UpstreamStatus" if error else None,
        cost_currency="USD",
        cost_amount=cost,
        cost_device_seconds=None if cost is None else latency_s,
        cost_joules=None if cost is None else latency_s * 200,
        safety=safety,
    )


def write_store(data_dir: Path, records: list[RequestRecord], chunk: int = 2000) -> Path:
    """Write `records` with the agent's `StoreWriter` into `data_dir`; returns the
    database's path."""
    # Retention off in effect: records dated long ago stay (the writer's first retention
    # pass would delete rows older than the default 7 days, depending on timing).
    config = StoreConfig(dir=Path(data_dir), retention={"max_age_days": 36_500})
    _, instruments = new_registry()
    writer = StoreWriter(config, StoreStats(instruments), keep_unshipped=False)
    writer.start()
    try:
        for at in range(0, len(records), chunk):
            writer.put(records[at : at + chunk])
            if not writer.flush().result(timeout=120):
                raise RuntimeError("the store writer could not commit the seeded records")
    finally:
        writer.close()
    return config.path


def frame_of(records: list[RequestRecord]) -> pd.DataFrame:
    """The records as a frame (one row per request) to compute expected answers from:
    the `api.REQUEST_COLUMNS` plus `safety` (the verdicts) and `cost_device_seconds`,
    `cost_joules`."""
    rows = [
        {
            "request_id": r.request_id,
            "wall_time": r.wall_time,
            "tenant": r.tenant,
            "model": r.model,
            "operation": r.operation,
            "status": r.status,
            "http_status": r.http_status,
            "error_type": r.error_type,
            "stream": r.stream,
            "finish_reason": r.finish_reason,
            "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens,
            "latency_s": r.duration_s,
            "ttft_s": r.ttft_s,
            "tpot_s": r.tpot_s,
            "cost_amount": r.cost_amount,
            "cost_currency": r.cost_currency,
            "cost_device_seconds": r.cost_device_seconds,
            "cost_joules": r.cost_joules,
            "safety_hits": sum(v.count for v in r.safety),
            "safety": r.safety,
        }
        for r in records
    ]
    return pd.DataFrame(rows)
