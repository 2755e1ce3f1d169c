"""Drift statistics over time: each evaluation's statistic and threshold per feature and
segment, kept in the alerts database (table `drift_history`) for the dashboard.

The detector's gauges only hold the last evaluation; this table holds every one for
`RETENTION_S`. Per evaluation: one row per tested feature of each kept segment, and one
row per segment with feature `dataset` (statistic: the share of drifted features,
threshold: `drift_share`). Written in one short transaction; a locked database loses
that evaluation's rows (logged), never the evaluation or its alerts.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("inferwatch.alerts.drift")

RETENTION_S = 7 * 86400.0
DATASET = "dataset"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS drift_history (
        evaluated_at REAL NOT NULL, segment TEXT NOT NULL, feature TEXT NOT NULL,
        test TEXT NOT NULL, statistic REAL, threshold REAL, drifted INTEGER NOT NULL,
        n_reference INTEGER NOT NULL, n_current INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS drift_history_key "
    "ON drift_history (feature, segment, evaluated_at)",
    "CREATE INDEX IF NOT EXISTS drift_history_at ON drift_history (evaluated_at)",
)


class DriftHistory:
    """The `drift_history` table on a connection of alerts/db.py (autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for statement in SCHEMA:
            conn.execute(statement)

    def record(self, now: float, report, segments: list[str]) -> None:
        """Keep the rows of `report` (a `DriftReport`) for `segments`, evaluated at `now`."""
        rows = rows_of(now, report, set(segments))
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.executemany(
                    "INSERT INTO drift_history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                self.conn.execute(
                    "DELETE FROM drift_history WHERE evaluated_at < ?", (now - RETENTION_S,)
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            log.warning("drift history of this evaluation not kept: %s", err)


def rows_of(now: float, report, kept: set[str]) -> list[tuple]:
    """The table rows of one report: tested features, then each segment's verdict."""
    rows = [
        (
            now,
            r.segment,
            r.feature,
            r.test,
            r.statistic,
            r.threshold,
            int(r.drifted),
            r.n_reference,
            r.n_current,
        )
        for r in report.rows
        if r.tested and r.segment in kept
    ]
    for segment, drifted in report.dataset_drift.items():
        if segment in kept:
            share = report.drifted_share(segment)
            n_ref = max((r[7] for r in rows if r[1] == segment), default=0)
            n_cur = max((r[8] for r in rows if r[1] == segment), default=0)
            rows.append(
                (
                    now,
                    segment,
                    DATASET,
                    "share",
                    share,
                    report.drift_share,
                    int(drifted),
                    n_ref,
                    n_cur,
                )
            )
    return rows
