"""An experiment's two arms read from the store: one array per measure, aligned by request.

Reads the typed columns of `requests` through the `requests_experiment` index; the record
JSON only for what has no column (finish reason, shadow_of, and safety verdicts where the
row has hits). Blocking: the agent calls `load` in a thread with its own read-only
connection; `connect_ro` opens one for a command line.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

from agent.record import STATUS_OK

MAX_ROWS = 200_000  # per arm, newest kept: ~10 MB of arrays, a report in seconds
SHADOW = "shadow"

_SQL = (
    "SELECT request_id, latency_s, ttft_s, stream, prompt_tokens, completion_tokens, "
    "cost_amount, status, json_extract(record, '$.finish_reason'), "
    "CASE WHEN safety_hits > 0 THEN json_extract(record, '$.safety') END, "
    "json_extract(record, '$.shadow_of') "
    "FROM requests WHERE experiment = ? AND variant = ? AND wall_time >= ? AND wall_time < ? "
    # The measured operations only: a forwarded GET /v1/models is no model's answer.
    "AND operation IN ('chat', 'text_completion', 'embeddings') "
    "ORDER BY wall_time DESC LIMIT ?"
)


@dataclass(frozen=True)
class Arm:
    """One arm's requests, newest first; every array has one entry per request, NaN where
    the measure is unknown (use `values` for the known ones). Latencies (`latency_s`,
    `ttft_s`, `tpot_s`) are those of answered requests (status ok): an error's time says
    how fast it failed, not how fast the model served. `tpot_s` is known for streams with
    at least two output tokens only (a whole answer shows no token times). `cost` is NaN
    where no cost was metered. `safety` counts, per filter, the requests it hit."""

    name: str
    request_ids: tuple[str, ...]
    latency_s: NDArray[np.float64]
    ttft_s: NDArray[np.float64]
    tpot_s: NDArray[np.float64]
    prompt_tokens: NDArray[np.float64]
    completion_tokens: NDArray[np.float64]
    cost: NDArray[np.float64]
    errors: NDArray[np.bool_]
    finish_reasons: tuple[str | None, ...]
    safety: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Requests in the arm."""
        return len(self.request_ids)

    def values(self, measure: str) -> NDArray[np.float64]:
        """The known (finite) values of one of the float arrays, e.g. `values("cost")`."""
        x = getattr(self, measure)
        return np.asarray(x[np.isfinite(x)], dtype=np.float64)

    def tokens(self) -> NDArray[np.float64]:
        """Prompt plus completion tokens per request (NaN where either is unknown)."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Pairs:
    """Shadow pairs: `control[i]` is a primary request's measure, `variant[i]` its shadow
    copy's, for pairs where both are known (one entry per measure name)."""

    n: int
    measures: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]


@dataclass(frozen=True)
class ExperimentData:
    """What `load` read: the two arms, the window and, for a shadow experiment, the pairs."""

    name: str
    kind: str
    control: Arm
    variant: Arm
    since: float | None = None
    until: float | None = None
    pairs: Pairs | None = None


def connect_ro(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the store at `path`; FileNotFoundError when it is absent
    (a read-only open never creates the file)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no store at {path}")
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, check_same_thread=False)


def load(
    conn: sqlite3.Connection,
    experiment: str,
    control: str,
    variant: str,
    since: float | None = None,
    until: float | None = None,
    *,
    kind: str | None = None,
    max_rows: int = MAX_ROWS,
) -> ExperimentData:
    """Read the two arms of `experiment` over wall times [since, until). The control arm is
    the records of upstream `control` that are not shadow copies; the variant arm, for a
    split or canary, those of `variant` that are not copies, and for a `shadow` experiment
    the copies (`shadow_of` set), paired with their primaries. `kind` None: shadow when
    every variant row is a copy, else split (a canary reads the same; pass its kind to
    name it). At most `max_rows` per arm, the newest."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}")
    window = (
        -math.inf if since is None else since,
        math.inf if until is None else until,
        max_rows,
    )
    c_rows = _rows(conn, experiment, control, window)
    v_rows = _rows(conn, experiment, variant, window)
    if kind is None:
        kind = SHADOW if v_rows and all(r[10] is not None for r in v_rows) else "split"
    c_rows = [r for r in c_rows if r[10] is None]
    v_rows = [r for r in v_rows if (r[10] is not None) == (kind == SHADOW)]
    c_arm, v_arm = _arm(control, c_rows), _arm(variant, v_rows)
    pairs = _pairs(c_arm, v_arm, [r[10] for r in v_rows]) if kind == SHADOW else None
    return ExperimentData(experiment, kind, c_arm, v_arm, since, until, pairs)


def _rows(conn: sqlite3.Connection, experiment: str, upstream: str, window: tuple) -> list[tuple]:
    return conn.execute(_SQL, (experiment, upstream, *window)).fetchall()


def _arm(name: str, rows: list[tuple]) -> Arm:
    def col(i: int) -> NDArray[np.float64]:
        return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=np.float64)

    ok = np.array([r[7] == STATUS_OK for r in rows], dtype=bool)
    latency, ttft, completion = col(1), col(2), col(5)
    latency[~ok], ttft[~ok] = np.nan, np.nan
    stream = np.array([bool(r[3]) for r in rows], dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = (latency - ttft) / (completion - 1)
    tpot[~stream | ~(completion >= 2)] = np.nan
    return Arm(
        name,
        tuple(r[0] for r in rows),
        _positive(latency),
        _positive(ttft),
        _positive(tpot),
        col(4),
        completion,
        col(6),
        ~ok,
        tuple(r[8] for r in rows),
        _safety(r[9] for r in rows),
    )


def _positive(x: NDArray[np.float64]) -> NDArray[np.float64]:
    # A time of 0 (clock granularity) cannot enter the log-scale and rank tests as > 0.
    x[~(x > 0)] = np.nan
    return x


def _safety(verdicts) -> dict[str, int]:
    """Requests hit per filter (a request hit twice by one filter counts once)."""
    hits: Counter[str] = Counter()
    for text in verdicts:
        if text:
            hits.update({v["filter"] for v in orjson.loads(text) if v.get("count", 1) > 0})
    return dict(hits)


def _pairs(control: Arm, variant: Arm, shadow_of: list[str]) -> Pairs:
    index = {rid: i for i, rid in enumerate(control.request_ids)}
    matched = [(index[p], j) for j, p in enumerate(shadow_of) if p in index]
    ci = np.array([m[0] for m in matched], dtype=np.intp)
    vi = np.array([m[1] for m in matched], dtype=np.intp)
    measures = {}
    for m in ("latency_s", "completion_tokens", "cost"):
        c, v = getattr(control, m)[ci], getattr(variant, m)[vi]
        keep = np.isfinite(c) & np.isfinite(v)
        measures[m] = (c[keep], v[keep])
    return Pairs(len(matched), measures)
