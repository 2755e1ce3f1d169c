"""A seeded alerts database for the dashboard's tests, made by the real alert code: the
cost detector finds a spike in a frame of traffic, the drift detector compares shifted
windows (writing its history), the alert engine records and flushes their alerts into
the webhook outbox, outcomes are written with the outbox's own calls (the ones the
sender makes: a unit test starts no receiver), and silences are added and expired
through `Silences`.

What was seeded is returned, so tests compare what a page shows with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alerts import db
from alerts.cost.config import CostAlertsConfig
from alerts.cost.detector import CostDetector
from alerts.drift.config import DriftConfig
from alerts.drift.detector import DriftDetector
from alerts.drift.history import DriftHistory
from alerts.engine.config import RouteConfig
from alerts.engine.engine import AlertEngine
from alerts.engine.state import EngineState
from alerts.model import Alert
from alerts.source import to_frame
from alerts.webhooks.outbox import Outbox

RECEIVERS = ("hook", "pager")  # hook answers 2xx, pager fails (retried, then dead)


class FrameSource:
    """The record-source contract over a frame in memory (a stand-in for the store)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.all = frame

    def frame(self, start: float, end: float) -> pd.DataFrame:
        w = self.all["wall_time"]
        return self.all[(w >= start) & (w < end)].reset_index(drop=True)


@dataclass
class SeededAlerts:
    """What went into the alerts database."""

    path: Path
    anomalies: list[Alert] = field(default_factory=list)
    resolved: Alert | None = None
    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    last_error: str = ""
    silences: dict[str, str] = field(default_factory=dict)  # comment -> state
    drift_times: list[float] = field(default_factory=list)


def cost_traffic(end: float, hours: float = 4.0, seed: int = 0) -> pd.DataFrame:
    """Three tenants at ~2 requests/s costing 0.01 each; tenant beta's last 10 minutes
    cost 9x (as tests/unit/test_alerts_cost_detector.py)."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * 2)
    wall = end - hours * 3600 + np.sort(rng.uniform(0, hours * 3600, n))
    tenant = rng.choice(["acme", "beta", "gamma"], n)
    cost = np.full(n, 0.01)
    cost[(wall >= end - 600) & (tenant == "beta")] *= 9
    model = rng.choice(["small", "large"], n)
    return pd.DataFrame(
        {
            "wall_time": wall,
            "tenant": tenant,
            "model": model,
            "cost_amount": cost,
            "completion_tokens": 100.0,
        }
    )


def drift_traffic(start: float, end: float, shift_from: float, seed: int = 1) -> pd.DataFrame:
    """A record frame of 1 request/s whose completion tokens triple from `shift_from`."""
    rng = np.random.default_rng(seed)
    wall = np.arange(start, end, 1.0)
    tokens = rng.lognormal(4, 0.5, len(wall)) * np.where(wall >= shift_from, 3.0, 1.0)
    rows = [
        {
            "wall_time": w,
            "tenant": "acme",
            "model": "m",
            "completion_tokens": t,
            "prompt_tokens": 50.0,
            "http_status": 200,
            "finish_reason": "stop",
        }
        for w, t in zip(wall, tokens, strict=True)
    ]
    return to_frame(rows)


def seed_alerts(data_dir: Path, now: float) -> SeededAlerts:
    """Write an alerts database into `data_dir` whose events happened before `now`."""
    path = Path(data_dir) / db.FILENAME
    conn = db.connect(path)
    state, outbox = EngineState(conn), Outbox(conn)
    route = RouteConfig(receivers=list(RECEIVERS), group_wait_s=0.0, group_interval_s=60.0)
    engine = AlertEngine(route, [], state, outbox.put)
    seeded = SeededAlerts(path)
    t_cost = now - 1800
    cost = CostDetector(CostAlertsConfig(), FrameSource(cost_traffic(t_cost)), currency="USD")
    seeded.anomalies = cost.evaluate(t_cost)
    engine.process(t_cost, "cost", seeded.anomalies)
    engine.tick(t_cost)
    _drift(engine, conn, now, seeded)
    _deliveries(outbox, now, seeded)
    _silences(state, now, seeded)
    conn.close()
    return seeded


def _drift(engine: AlertEngine, conn, now: float, seeded: SeededAlerts) -> None:
    """Completion tokens shift at now-1200: evaluations before it are calm, after it the
    drift alert fires; at the last one the reference has caught up and it resolves."""
    config = DriftConfig(window_s=300, reference_s=600, calibration_resamples=50)
    frame = drift_traffic(now - 4000, now, shift_from=now - 1200)
    det = DriftDetector(config, FrameSource(frame), history=DriftHistory(conn))
    for t in (now - 1500, now - 900, now - 60):
        alerts = det.evaluate(t)
        seeded.drift_times.append(t)
        engine.process(t, "drift", alerts)
        engine.tick(t)
        if alerts:
            seeded.resolved = next(a for a in alerts if a.labels["feature"] == "completion_tokens")


def _deliveries(outbox: Outbox, now: float, seeded: SeededAlerts) -> None:
    """hook acknowledges everything; pager fails: its oldest is a dead letter after
    three attempts, the rest wait for a retry."""
    rows = outbox.conn.execute("SELECT id, receiver FROM webhook_outbox ORDER BY id").fetchall()
    pager = [i for i, r in rows if r == "pager"]
    for entry_id, receiver in rows:
        if receiver == "hook":
            outbox.mark_sent(entry_id, now - 30)
        elif entry_id == pager[0]:
            for _ in range(2):
                outbox.mark_failed(entry_id, now - 40, "HTTP 500", now - 35)
            outbox.give_up(entry_id, now - 30, "3 attempts, last: HTTP 503")
        else:
            outbox.mark_failed(entry_id, now - 20, "connection refused", now + 60)
    seeded.delivered = {"hook": sum(r == "hook" for _, r in rows)}
    seeded.failed = {"pager": 1}
    seeded.pending = {"pager": len(pager) - 1}
    seeded.last_error = "connection refused"


def _silences(state: EngineState, now: float, seeded: SeededAlerts) -> None:
    s = state.silences
    s.add(["tenant=acme"], now - 600, now + 3600, "alice", "acme maintenance window")
    old = s.add(['alertname="InferwatchDrift"'], now - 7200, now + 600, "bob", "known drift")
    s.expire(old.id, now - 3000)
    seeded.silences = {"acme maintenance window": "active", "known drift": "expired"}
