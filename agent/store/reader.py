"""Read API of the store for the dashboard (another process): aggregations done in SQL.

Opens the database read-only; WAL lets it read while the agent writes. Every method
blocks: a dashboard calls them directly, an asyncio caller through `asyncio.to_thread`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.store.schema import REJECTED

DIMENSIONS = ("tenant", "model", "operation", "status", "error_type")

_AGGREGATES = """
    count(*) AS requests,
    sum(status != 'ok') AS errors,
    sum(coalesce(prompt_tokens, 0)) AS input_tokens,
    sum(coalesce(completion_tokens, 0)) AS output_tokens,
    sum(coalesce(cost_amount, 0)) AS cost,
    avg(latency_s) AS latency_avg_s,
    max(latency_s) AS latency_max_s,
    avg(ttft_s) AS ttft_avg_s,
    sum(safety_hits) AS safety_hits
"""


class StoreReader:
    """Queries over the request log."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 2000) -> None:
        uri = f"file:{Path(path)}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        self._conn.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _all(self, sql: str, params: tuple = ()) -> list[dict]:
        return [dict(r) for r in self._conn.execute(sql, params).fetchall()]

    def recent(self, limit: int = 100, tenant: str | None = None) -> list[dict]:
        """The newest rows (typed columns, no JSON), optionally of one tenant; `cost_status`
        "pending" means the cost engine still holds the record (cost not yet known)."""
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
        sql = (
            "SELECT request_id, wall_time, tenant, model, operation, status, http_status, "
            "error_type, prompt_tokens, completion_tokens, latency_s, ttft_s, cost_amount, "
            "cost_currency, cost_status, safety_hits "
            f"FROM requests {where} ORDER BY id DESC LIMIT ?"
        )
        return self._all(sql, (*params, limit))

    def record_json(self, request_id: str) -> str | None:
        """The full stored record of one request, as JSON."""
        row = self._conn.execute(
            "SELECT record FROM requests WHERE request_id = ? ORDER BY id DESC LIMIT 1",
            (request_id,),
        ).fetchone()
        return row[0] if row else None

    def totals_by(self, dimension: str, since: float, until: float) -> list[dict]:
        """Aggregates per value of `dimension` (one of `DIMENSIONS`) over a wall-time range."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"dimension must be one of {DIMENSIONS}")
        sql = (
            f"SELECT {dimension} AS key, {_AGGREGATES} FROM requests "
            f"WHERE wall_time >= ? AND wall_time < ? GROUP BY {dimension} ORDER BY cost DESC"
        )
        return self._all(sql, (since, until))

    def timeseries(
        self, bucket_s: float, since: float, until: float, dimension: str | None = None
    ) -> list[dict]:
        """Aggregates per time bucket (bucket start in epoch seconds), optionally split."""
        if dimension is not None and dimension not in DIMENSIONS:
            raise ValueError(f"dimension must be one of {DIMENSIONS}")
        key = f", {dimension} AS key" if dimension else ""
        group = f", {dimension}" if dimension else ""
        sql = (
            f"SELECT CAST(wall_time / ? AS INTEGER) * ? AS bucket{key}, {_AGGREGATES} "
            f"FROM requests WHERE wall_time >= ? AND wall_time < ? "
            f"GROUP BY bucket{group} ORDER BY bucket"
        )
        return self._all(sql, (bucket_s, bucket_s, since, until))

    def rejected(self, limit: int = 100) -> list[dict]:
        """Rows Elasticsearch refused as malformed, with the reason it gave."""
        sql = (
            "SELECT request_id, wall_time, ship_error FROM requests WHERE ship_state = ? "
            "ORDER BY id DESC LIMIT ?"
        )
        return self._all(sql, (REJECTED, limit))

    def count(self) -> int:
        """Number of rows kept."""
        return self._conn.execute("SELECT count(*) FROM requests").fetchone()[0]
