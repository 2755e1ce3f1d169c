"""Figures of the base/head comparison (bench/record_path_ab.py): per-round figures of each
target, paired head-versus-base spreads across rounds, and the table. Pure: no I/O."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.proxy_report import pct

TARGETS = ("direct", "base", "head")


@dataclass(frozen=True)
class Sample:
    """One request as the client saw it: whole response and first chunk (ns), and the
    agent's own `x-inferwatch-overhead-ms` header (None when absent: direct, or no header)."""

    total_ns: int
    ttfc_ns: int
    overhead_ms: float | None = None


@dataclass
class Batch:
    """One target's requests in one round, and its server's CPU seconds over them (None
    for the direct target, whose server is not the thing measured)."""

    samples: list[Sample]
    cpu_s: float | None = None
    errors: list[str] = field(default_factory=list)  # why each failed request failed


def latency_ms(batch: Batch, q: int, first_chunk: bool = False) -> float:
    """The q-th percentile (1..99) of a batch's whole-response (or first-chunk) latency, ms."""
    values = [s.ttfc_ns if first_chunk else s.total_ns for s in batch.samples]
    return pct(values, q) / 1e6


def overhead_ms(batch: Batch) -> float | None:
    """The median of the agent's own overhead header over a batch, if it sent one."""
    values = [s.overhead_ms for s in batch.samples if s.overhead_ms is not None]
    return statistics.median(values) if values else None


def cpu_ms_per_request(batch: Batch) -> float | None:
    """Server CPU milliseconds per request sent in a batch, failed ones included (None
    without a CPU reading)."""
    n = len(batch.samples) + len(batch.errors)
    if batch.cpu_s is None or not n:
        return None
    return 1e3 * batch.cpu_s / n


@dataclass(frozen=True)
class Spread:
    """A paired head-versus-base figure: its median over rounds and its min..max."""

    median: float
    low: float
    high: float


def paired(base: list[float], head: list[float], diff: bool = False) -> Spread | None:
    """Per round head/base (or head-base with `diff`), summarised as median and min..max.
    A round whose base is not positive has no ratio and is left out; None when none is left."""
    if len(base) != len(head):
        raise ValueError(f"unpaired rounds: {len(base)} base, {len(head)} head")
    if diff:
        per = [h - b for b, h in zip(base, head, strict=True)]
    else:
        per = [h / b for b, h in zip(base, head, strict=True) if b > 0]
    if not per:
        return None
    return Spread(statistics.median(per), min(per), max(per))


@dataclass
class Scenario:
    """One load shape (e.g. instant `c8 stream`) and its kept rounds, each a Batch per target."""

    load: str
    concurrency: int
    stream: bool
    rounds: list[dict[str, Batch]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.load} c{self.concurrency} {'stream' if self.stream else 'json'}"
