"""Stores holding an experiment's records, written with the store's own schema and row
conversion, for the experiment report, gate and CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agent.record import STATUS_ERROR, STATUS_OK, RequestRecord, SafetyVerdict
from agent.store import schema
from agent.store.experiments import ExperimentLog
from agent.store.rows import to_row
from tests.store_records import make_record

T0 = 1_700_000_000.0  # wall time of the first request


def arm(
    n: int,
    variant: str,
    *,
    seed: int,
    experiment: str = "exp",
    slower: float = 1.0,
    costlier: float = 1.0,
    error_rate: float = 0.0,
    length_rate: float = 0.0,
    pii_rate: float = 0.0,
    shadow_of: list[str] | None = None,
) -> list[RequestRecord]:
    """`n` streamed requests of one arm: lognormal latencies (median 0.5 s times `slower`),
    TTFT a fifth of it, cost proportional to latency times `costlier`, and the given
    shares of errors, `length` finishes and `pii.email` hits. With `shadow_of`, record i is
    a shadow copy of request `shadow_of[i]`."""
    rng = np.random.default_rng(seed)
    latency = 0.5 * slower * rng.lognormal(0.0, 0.3, n)
    out = []
    for i in range(n):
        start = 10**12 + i * 10**9
        error = rng.random() < error_rate
        out.append(
            make_record(
                i,
                stream=True,
                wall_time=T0 + i,
                start_ns=start,
                end_ns=start + int(latency[i] * 1e9),
                first_token_ns=start + int(latency[i] * 2e8),
                prompt_tokens=100 + i % 20,
                completion_tokens=None if error else 40 + i % 10,
                cost_amount=float(0.001 * latency[i] * costlier),
                status=STATUS_ERROR if error else STATUS_OK,
                http_status=500 if error else 200,
                finish_reason=None if error else _reason(rng, length_rate),
                safety=_safety(rng, pii_rate),
                experiment=experiment,
                variant=variant,
                shadow_of=None if shadow_of is None else shadow_of[i],
            )
        )
    return out


def _reason(rng: np.random.Generator, length_rate: float) -> str:
    return "length" if rng.random() < length_rate else "stop"


def _safety(rng: np.random.Generator, rate: float) -> tuple[SafetyVerdict, ...]:
    return (SafetyVerdict("pii.email", "input", "redact", 2),) if rng.random() < rate else ()


def write_store(path: Path, records: list[RequestRecord]) -> Path:
    """A store at `path` (created and migrated) holding `records`."""
    conn = schema.connect(str(path))
    try:
        schema.migrate(conn)
        conn.execute("BEGIN")
        conn.executemany(schema.INSERT_SQL, [to_row(r) for r in records])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return path


def started(path: Path, experiment: str, kind: str, control: str, variant: str) -> None:
    """The `started` event the agent writes, with the experiment's arms in its detail."""
    detail = {"kind": kind, "control": control, "variant": variant}
    ExperimentLog(path).add(experiment, "started", detail=detail, at=T0)
