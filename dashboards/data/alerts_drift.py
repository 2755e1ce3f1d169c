"""Drift's part of the alerts database, read-only: saved references (`drift_snapshots`,
alerts/drift/snapshot.py) and each evaluation's statistics (`drift_history`,
alerts/drift/history.py)."""

from __future__ import annotations

import gzip

import orjson
import pandas as pd

from alerts.source import to_frame
from dashboards.data.alerts import AlertsData
from dashboards.data.api import DataUnavailable


def snapshots(db: AlertsData) -> pd.DataFrame:
    """Saved references: name, created_at, start, end, rows (none when the file has no
    snapshot table yet)."""
    if not db.has("drift_snapshots"):
        return pd.DataFrame(columns=["name", "created_at", "start", "end", "rows"])
    sql = "SELECT name, created_at, start, end, rows FROM drift_snapshots ORDER BY name"
    return db.query(sql, needs=("drift_snapshots",))


def snapshot(db: AlertsData, name: str) -> pd.DataFrame:
    """The record frame saved as `name` (as `Snapshots.load` reads it)."""
    sql = "SELECT data FROM drift_snapshots WHERE name = ?"
    found = db.query(sql, (name,), needs=("drift_snapshots",))
    if found.empty:
        raise DataUnavailable(f"no drift snapshot named {name!r} in {db.path}")
    return to_frame(orjson.loads(gzip.decompress(found["data"].iloc[0])))


def history_keys(db: AlertsData, start: float, end: float) -> pd.DataFrame:
    """The (feature, segment) pairs evaluated in [start, end), with how many times."""
    sql = """SELECT feature, segment, COUNT(*) AS evaluations FROM drift_history
        WHERE evaluated_at >= ? AND evaluated_at < ? GROUP BY feature, segment
        ORDER BY segment, feature"""
    return db.query(sql, (start, end), needs=("drift_history",))


def history(db: AlertsData, feature: str, segment: str, start: float, end: float):
    """One feature's statistic over time in a segment: evaluated_at, test, statistic,
    threshold, drifted, n_reference, n_current (oldest first)."""
    sql = """SELECT evaluated_at, test, statistic, threshold, drifted, n_reference, n_current
        FROM drift_history WHERE feature = ? AND segment = ?
          AND evaluated_at >= ? AND evaluated_at < ? ORDER BY evaluated_at"""
    return db.query(sql, (feature, segment, start, end), needs=("drift_history",))
