"""Read-only views of the alerts database (`<store.dir>/alerts.db`, alerts/db.py): alerts
firing and resolved, cost anomalies, webhook deliveries per receiver, and silences.

Every view opens the file read-only (`mode=ro`, so the dashboard can never write it and
reads while the agent writes, WAL), answers with one SQL query (aggregates and JSON
fields are taken out by SQLite, never whole tables into pandas), and closes it. A view
that cannot answer raises `DataUnavailable` with a message a person can act on: no file
(alerts are off), or a file from an older inferwatch that lacks the view's table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from dashboards.data.api import DataUnavailable

ANOMALY = "InferwatchCostAnomaly"  # alerts.cost.detector.ANOMALY_ALERT
LIMIT = 1000  # rows of a list view: the newest first


class AlertsData:
    """The alerts database at `path`, read-only."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 2000) -> None:
        self.path = Path(path)
        self._busy_ms = busy_timeout_ms

    def tables(self) -> set[str]:
        """Names of the tables the file holds."""
        return set(self.query("SELECT name FROM sqlite_master WHERE type = 'table'")["name"])

    def query(self, sql: str, args: tuple = (), needs: tuple[str, ...] = ()) -> pd.DataFrame:
        """The rows of one read-only query; `needs` names tables it reads (a file without
        them is from an older inferwatch: `DataUnavailable` says so)."""
        if not self.path.is_file():
            raise DataUnavailable(
                f"alerts are off: no alerts.db in {self.path.parent} (set alerts.enabled)"
            )
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
            self._check(conn, needs)
            return pd.read_sql_query(sql, conn, params=args)
        except (sqlite3.Error, pd.errors.DatabaseError) as err:
            raise DataUnavailable(
                f"cannot read the alerts database {self.path} (an older or newer inferwatch "
                f"wrote it?): {err}"
            ) from err
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection, needs: tuple[str, ...]) -> None:
        marks = ",".join("?" * len(needs))
        sql = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"  # noqa: S608
        found = {r[0] for r in conn.execute(sql, needs)} if needs else set()
        missing = [t for t in needs if t not in found]
        if missing:
            raise DataUnavailable(
                f"the alerts database {self.path} has no {', '.join(missing)} table: it was "
                "written by an older inferwatch (an agent of this version adds it on start)"
            )

    def has(self, table: str) -> bool:
        """Whether the file holds `table` (False for no file)."""
        try:
            return table in self.tables()
        except DataUnavailable:
            return False

    def alerts(self, start: float, end: float, now: float) -> pd.DataFrame:
        """Alert episodes overlapping [start, end), newest first: alertname, state (at
        `now`), severity, starts_at, ends_at, source, summary, labels (JSON). From the
        engine's history; a file without it has only the alerts the engine still holds."""
        table = "alert_history" if self.has("alert_history") else "engine_alerts"
        name = "alertname" if table == "alert_history" else "json_extract(labels, '$.alertname')"
        sql = f"""SELECT {name} AS alertname,
            CASE WHEN ends_at IS NOT NULL AND ends_at <= ? THEN 'resolved' ELSE 'firing' END
              AS state,
            json_extract(labels, '$.severity') AS severity, starts_at, ends_at, source,
            json_extract(annotations, '$.summary') AS summary, labels
            FROM {table} WHERE starts_at < ? AND (ends_at IS NULL OR ends_at >= ?)
            ORDER BY starts_at DESC LIMIT {LIMIT}"""  # noqa: S608
        return self.query(sql, (now, end, start), needs=(table,))

    def anomalies(self, start: float, end: float) -> pd.DataFrame:
        """Cost anomalies (the cost detector's alerts) overlapping [start, end), oldest
        first: starts_at, ends_at, series, segment, size, observed, expected, currency,
        driver (its top contributors), summary."""
        table = "alert_history" if self.has("alert_history") else "engine_alerts"
        sql = f"""SELECT starts_at, ends_at,
            json_extract(labels, '$.series') AS series,
            json_extract(labels, '$.segment') AS segment,
            CAST(json_extract(annotations, '$.size') AS REAL) AS size,
            CAST(json_extract(annotations, '$.observed') AS REAL) AS observed,
            CAST(json_extract(annotations, '$.expected') AS REAL) AS expected,
            json_extract(annotations, '$.currency') AS currency,
            json_extract(annotations, '$.top_contributors') AS driver,
            json_extract(annotations, '$.summary') AS summary
            FROM {table} WHERE json_extract(labels, '$.alertname') = ?
              AND starts_at < ? AND (ends_at IS NULL OR ends_at >= ?)
            ORDER BY starts_at LIMIT {LIMIT}"""  # noqa: S608
        return self.query(sql, (ANOMALY, end, start), needs=(table,))

    def deliveries(self, start: float, end: float) -> pd.DataFrame:
        """Per receiver, the notifications created in [start, end): delivered, pending,
        failed (dead letters), retrying (pending after a failed attempt), attempts, the
        latest error and the latest update."""
        sql = """SELECT receiver, SUM(state = 'sent') AS delivered,
            SUM(state = 'pending') AS pending, SUM(state = 'dead') AS failed,
            SUM(state = 'pending' AND attempts > 0) AS retrying, SUM(attempts) AS attempts,
            (SELECT last_error FROM webhook_outbox AS e WHERE e.receiver = o.receiver
               AND e.last_error != '' AND e.created_at >= ? AND e.created_at < ?
               ORDER BY e.updated_at DESC LIMIT 1) AS last_error,
            MAX(updated_at) AS last_update
            FROM webhook_outbox AS o WHERE created_at >= ? AND created_at < ?
            GROUP BY receiver ORDER BY receiver"""
        return self.query(sql, (start, end, start, end), needs=("webhook_outbox",))

    def silences(self, now: float) -> pd.DataFrame:
        """Every silence, the current and pending first, then the expired by end (newest
        first): state (at `now`), matchers (JSON list), starts_at, ends_at, created_by,
        comment, id."""
        sql = f"""SELECT CASE WHEN ? < starts_at THEN 'pending'
              WHEN ? < ends_at THEN 'active' ELSE 'expired' END AS state,
            matchers, starts_at, ends_at, created_by, comment, id FROM silences
            ORDER BY ends_at <= ?, ends_at DESC LIMIT {LIMIT}"""  # noqa: S608
        return self.query(sql, (now, now, now), needs=("silences",))
