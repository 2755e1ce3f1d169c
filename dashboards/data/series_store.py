"""Metric series from the snapshots an agent keeps in its store (`agent.store.samples`).

Read-only (`mode=ro`): the dashboard never writes the store, and reads it while the agent
writes (WAL). SQL picks the last snapshot of each step from the `at` index, so a week at
one-hour steps reads about 170 snapshots, never every row; pandas turns those into rates.
A counter's rate over a step comes from the last snapshots of this step and the step
before (gaps up to `LOOKBACK_S` are spanned), so a reset inside a step whose counter has
already passed its old value shows as a smaller increase.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pandas as pd

from dashboards.data.api import DataUnavailable
from dashboards.data.series import counters, frame, grid

LOOKBACK_S = 300  # as Prometheus' default lookback: older samples are not "now"

# The first and the last snapshot of each step (the first is a counter's base in a step
# whose previous step has no snapshot: an agent started within it).
_PICK = (
    "SELECT s.at, s.data FROM samples s JOIN ("
    "  SELECT max(at) AS at, id FROM samples WHERE at >= ? AND at < ?"
    "  GROUP BY CAST(at / ? AS INTEGER)"
    "  UNION SELECT min(at) AS at, id FROM samples WHERE at >= ? AND at < ?"
    "  GROUP BY CAST(at / ? AS INTEGER)"
    ") p ON s.id = p.id ORDER BY s.at"
)


class StoreSeries:
    """`SeriesData` from the store database at `path`."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 2000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms

    def info(self) -> str:
        """Where the series come from."""
        return f"metric snapshots in the store {self.path}"

    def series(self, names, start: float, end: float, step_s: int) -> pd.DataFrame:
        """See `SeriesData.series`."""
        first, last = grid(start, end, step_s)
        lookback = max(step_s, LOOKBACK_S)
        with self._connect() as conn:
            if not _has_samples(conn):
                return frame([])
            known = _series_ids(conn, tuple(names))
            window = (first - step_s - lookback, last, step_s)
            picked = conn.execute(_PICK, window * 2).fetchall()
        points = [
            (at, known[sid], v)
            for at, data in picked
            for sid, v in orjson.loads(data).items()
            if sid in known
        ]
        return frame(_evaluate(points, first, last, step_s, lookback))

    def _connect(self) -> _Closing:
        if not self.path.is_file():
            raise DataUnavailable(f"no store at {self.path}: start the agent, or check the path")
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        except sqlite3.Error as err:
            raise DataUnavailable(f"cannot read the store {self.path}: {err}") from err
        return _Closing(conn)


class _Closing:
    """A connection closed at the end of a `with` block (sqlite3's own only commits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self._conn

    def __exit__(self, kind, err, tb) -> None:
        self._conn.close()
        if isinstance(err, sqlite3.Error):
            raise DataUnavailable(f"cannot read the metric snapshots: {err}") from err


def _has_samples(conn: sqlite3.Connection) -> bool:
    sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)"
    return conn.execute(sql, ("samples", "sample_series")).fetchone()[0] == 2


def _series_ids(conn: sqlite3.Connection, names: tuple[str, ...]) -> dict[str, tuple]:
    """{series id as in the snapshots' JSON: (name, labels)} of the series of `names`."""
    marks = ",".join("?" * len(names))
    sql = f"SELECT id, name, labels FROM sample_series WHERE name IN ({marks})"  # noqa: S608
    return {str(i): (n, orjson.loads(lab)) for i, n, lab in conn.execute(sql, names)}


def _evaluate(points, first: int, last: int, step_s: int, lookback: int) -> list[tuple]:
    """(t, name, labels, value) on the grid from (at, (name, labels), value) points (the
    first and last snapshot of each step), in time order. A gauge is the step's last
    value; a counter the rate from the previous step's last snapshot (within `lookback`),
    else from this step's first, to this step's last."""
    steps: dict[tuple, dict[int, list]] = {}
    for at, (name, labels), v in points:
        key = (name, tuple(sorted(labels.items())))
        steps.setdefault(key, {}).setdefault((int(at // step_s) + 1) * step_s, []).append((at, v))
    rows = []
    for (name, items), by_step in steps.items():
        labels, prev = dict(items), None
        for t in sorted(by_step):
            seen = by_step[t]
            end, base = seen[-1], _base(prev, seen, step_s + lookback)
            prev = end
            if not first <= t <= last:
                continue
            if name not in counters():
                rows.append((t, name, labels, end[1]))
            elif base is not None:
                increase = end[1] - base[1] if end[1] >= base[1] else end[1]  # a reset
                rows.append((t, name, labels, increase / (end[0] - base[0])))
    return rows


def _base(prev: tuple | None, seen: list, span: float) -> tuple | None:
    """A counter's starting point for this step (None: no rate can be had)."""
    end = seen[-1]
    if prev is not None and 0 < end[0] - prev[0] <= span:
        return prev
    return seen[0] if seen[0][0] < end[0] else None
