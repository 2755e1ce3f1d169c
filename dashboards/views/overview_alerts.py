"""What is firing now, read from the alert engine's database (`alerts.db` beside the
store), read-only. The alert pages' own views of alerts.db may replace this at merge."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd

from dashboards.data.api import DataUnavailable

COLUMNS = ["alertname", "severity", "summary", "labels", "since"]


def firing(path: Path, now: float) -> pd.DataFrame | None:
    """Alerts firing at `now` (`ends_at` unset or later), oldest first; None when there is
    no alerts.db (alerting is off). `DataUnavailable` when it cannot be read."""
    if not path.exists():
        return None
    sql = (
        "SELECT labels, annotations, starts_at FROM engine_alerts "
        "WHERE starts_at <= ? AND (ends_at IS NULL OR ends_at > ?) ORDER BY starts_at"
    )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            rows = conn.execute(sql, (now, now)).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return pd.DataFrame(columns=COLUMNS)  # the engine has not started yet
        raise DataUnavailable(f"the alerts database {path} cannot be read: {err}") from err
    except sqlite3.DatabaseError as err:
        raise DataUnavailable(f"the alerts database {path} cannot be read: {err}") from err
    return pd.DataFrame([_row(*r) for r in rows], columns=COLUMNS)


def _row(labels: str, annotations: str, starts_at: float) -> tuple:
    lab, ann = json.loads(labels), json.loads(annotations)
    name, severity = lab.pop("alertname", ""), lab.pop("severity", "")
    rest = ", ".join(f"{k}={v}" for k, v in sorted(lab.items()))
    return name, severity, ann.get("summary", ""), rest, starts_at
