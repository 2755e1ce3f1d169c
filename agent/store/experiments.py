"""What the agent decided in an experiment, kept in the store's `experiment_events` table
(schema v6): started (with the experiment's config), each canary step, each gate look that
changed something, rolled back, promoted. Reports and the dashboard read it to draw the
canary's steps; a restarted agent reads it to resume a canary where it was (a rolled-back
canary stays rolled back).

Written rarely (a few rows an hour), each on its own short connection in a thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from agent.store.schema import connect, migrate

# Values of `experiment_events.event`.
STARTED = "started"
STEP = "step"
GATE = "gate"
ROLLED_BACK = "rolled_back"
PROMOTED = "promoted"
COMPLETED = "completed"  # the last step passed (kept at its weight, not promoted)


@dataclass(frozen=True)
class Event:
    """One row of `experiment_events`."""

    at: float
    experiment: str
    event: str
    step: int | None
    weight: float | None
    detail: dict


class ExperimentLog:
    """Appends and reads `experiment_events` in the store at `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def add(
        self,
        experiment: str,
        event: str,
        step: int | None = None,
        weight: float | None = None,
        detail: dict | None = None,
        at: float | None = None,
    ) -> None:
        """Append one event (blocking: call it in a thread from the event loop)."""
        conn = connect(self.path)
        try:
            migrate(conn)
            conn.execute(
                "INSERT INTO experiment_events (at, experiment, event, step, weight, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    time.time() if at is None else at,
                    experiment,
                    event,
                    step,
                    weight,
                    orjson.dumps(detail or {}).decode(),
                ),
            )
        finally:
            conn.close()

    def events(self, experiment: str) -> list[Event]:
        """Every event of `experiment`, oldest first ([] when the store has none)."""
        conn = connect(self.path)
        try:
            migrate(conn)
            rows = conn.execute(
                "SELECT at, experiment, event, step, weight, detail FROM experiment_events "
                # In the order written: the wall clock may step back between two events.
                "WHERE experiment = ? ORDER BY id",
                (experiment,),
            ).fetchall()
        finally:
            conn.close()
        return [Event(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5])) for r in rows]

    def names(self) -> list[str]:
        """Every experiment the store has events of, most recently started first."""
        conn = connect(self.path)
        try:
            migrate(conn)
            rows = conn.execute(
                "SELECT experiment FROM experiment_events GROUP BY experiment ORDER BY max(id) DESC"
            ).fetchall()
        finally:
            conn.close()
        return [r[0] for r in rows]

    def arms(self, experiment: str) -> tuple[str, str] | None:
        """(control, variant) as the experiment's last `started` event named them."""
        started = [e for e in self.events(experiment) if e.event == STARTED]
        if not started:
            return None
        d = started[-1].detail
        return str(d.get("control")), str(d.get("variant"))
