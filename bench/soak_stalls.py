"""The soak's stall diagnostic (agent/stallwatch.py) on both sides of the measurement: the
agent (INFERWATCH_STALL_WATCH, set for its process) and the load generator's own loop,
which also runs the scripted upstream. For each request the client saw slower than
`SLOW_MS`, the agent's own measure of it (its record's latency, or time to first token for
a stream) is read back from the store: a slow request the agent timed fast was slow on
the client's side or on the wire, not in the agent."""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from agent.stallwatch import ENV, ENV_MS

SLOW_MS = 50.0  # a request slower than this (client-side) is a spike at this load
AGENT_FILE, BENCH_FILE = "agent-stalls.jsonl", "bench-stalls.jsonl"


@dataclass
class Slow:
    """One request the client saw slower than SLOW_MS, and the agent's own figure for it."""

    t: float  # seconds into the traffic, at its end
    client_ms: float
    request_id: str
    agent_ms: float = float("nan")


@dataclass
class Stalls:
    """What the diagnostic saw: stalls of each loop, the slow requests."""

    agent: list[dict] = field(default_factory=list)
    bench: list[dict] = field(default_factory=list)
    slow: list[Slow] = field(default_factory=list)


def agent_env(folder: Path, stall_ms: float) -> dict[str, str]:
    """The environment that turns the agent's stall watch on, writing into `folder`, a
    heartbeat late by over `stall_ms` being a stall."""
    return {ENV: str(folder / AGENT_FILE), ENV_MS: str(stall_ms)}


def read_lines(path: Path) -> list[dict]:
    """The JSON lines a StallWatch wrote (none if it never stalled)."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def agent_figures(store: Path, slow: list[Slow]) -> None:
    """Fill each slow request's `agent_ms` from its record in the store."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        for s in slow:
            row = conn.execute(
                "SELECT coalesce(ttft_s, latency_s) FROM requests WHERE request_id = ?",
                (s.request_id,),
            ).fetchone()
            s.agent_ms = row[0] * 1e3 if row and row[0] is not None else float("nan")
    finally:
        conn.close()


def _side(name: str, lines: list[dict], ms: float) -> str:
    if not lines:
        return f"{name}: no stall over {ms:g} ms"
    gaps = [x["gap_ms"] for x in lines]
    gc2 = sum(1 for x in lines if any(g["gen"] == 2 for g in x["gc"]))
    cpu = statistics.median(x["loop_thread_cpu_ms"] / max(x["gap_ms"], 1e-9) for x in lines)
    return (
        f"{name}: {len(lines)} stalls over {ms:g} ms (max {max(gaps):.0f} ms), {gc2} with a full "
        f"(gen-2) collection inside; the loop's thread ran a median {cpu:.0%} of a stall"
    )


def summary(st: Stalls, p99s: list[float], stall_ms: float = 50.0) -> list[str]:
    """Markdown lines for the report: samples whose p99 (`p99s`) is a spike, stalls per
    side, slow requests, and who timed them slow."""
    slow_agent = sum(1 for s in st.slow if s.agent_ms > SLOW_MS)
    spikes = [p for p in p99s if p > SLOW_MS]
    return [
        f"- samples with a p99 over {SLOW_MS:g} ms: {len(spikes)} of {len(p99s)} "
        f"(highest sample p99 {max(p99s, default=float('nan')):.0f} ms)",
        f"- {_side('agent loop', st.agent, stall_ms)}",
        f"- {_side('load generator loop (and the scripted upstream)', st.bench, stall_ms)}",
        f"- requests slower than {SLOW_MS:g} ms at the client: {len(st.slow)}; of these the "
        f"agent's own record says over {SLOW_MS:g} ms for {slow_agent}",
    ]
