"""The comparison and the gate of an experiment, computed from the store's records (in a
thread: the statistics are numpy work, the reads SQLite's)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.routing.canary import Look
from agent.routing.config import ExperimentConfig

MAX_ROWS = 200_000  # per look: the newest rows of the experiment, a bound on memory and time


def _connect(path: str | Path) -> sqlite3.Connection:
    from alerts.experiments.arms import connect_ro

    return connect_ro(path)


def gate_look(store: str | Path, exp: ExperimentConfig, since: float) -> Look:
    """The canary gate over the arms' records since `since` (blocking)."""
    from alerts.experiments import arms, canary_gate  # numpy and scipy load on first use

    conn = _connect(store)
    try:
        data = arms.load(
            conn, exp.name, exp.control, exp.variant, since=since, kind=exp.kind, max_rows=MAX_ROWS
        )
    finally:
        conn.close()
    outcome = canary_gate.evaluate_gate(data, exp.gate)
    decision = getattr(outcome.decision, "value", outcome.decision)
    n = (len(data.control.latency_s), len(data.variant.latency_s))
    return Look(str(decision), outcome.reason, outcome.to_json(), n)


def report(
    store: str | Path,
    name: str,
    control: str,
    variant: str,
    since: float | None = None,
    kind: str | None = None,
) -> dict:
    """The whole comparison of an experiment as JSON (blocking)."""
    from alerts.experiments import arms
    from alerts.experiments.report import compare

    conn = _connect(store)
    try:
        data = arms.load(conn, name, control, variant, since=since, kind=kind, max_rows=MAX_ROWS)
    finally:
        conn.close()
    return compare(data).to_json()
