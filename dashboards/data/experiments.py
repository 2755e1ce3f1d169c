"""The experiments in the agent's store, for the Experiments page: which there are (the
running ones first), which arm is the control, and a canary's events as the variant's
share over time. Read-only, through `alerts.experiments.stored` (the comparison itself:
`dashboards.data.experiments_report`)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agent.config import Settings
from agent.store.experiments import COMPLETED, PROMOTED, ROLLED_BACK, STARTED
from alerts.experiments import stored
from alerts.experiments.stored import Arms, StoredArm
from dashboards.data.api import DataUnavailable
from dashboards.data.store_open import open_store

EXPERIMENTS_SINCE = 6  # the store's schema version that added experiments
RUNNING = "running"
ENDED = (ROLLED_BACK, PROMOTED, COMPLETED)


@dataclass(frozen=True)
class Listed:
    """One experiment of the store: its upstreams' rows and the agent's events."""

    name: str
    arms: tuple[StoredArm, ...]
    events: tuple[dict, ...]

    @property
    def state(self) -> str:
        """`rolled_back`, `promoted` or `completed` after the last start, else `running`."""
        for e in reversed(self.events):
            if e["event"] in ENDED:
                return str(e["event"])
            if e["event"] == STARTED:
                break
        return RUNNING

    @property
    def last(self) -> float:
        """The latest request or event (epoch s)."""
        return max([a.last for a in self.arms] + [e["at"] for e in self.events] + [0.0])


def experiments(path: Path) -> list[Listed]:
    """Every experiment with requests or events in the store at `path`: the running ones
    first, then by latest activity. `DataUnavailable` when the store cannot be read."""
    conn, version = open_store(path)
    try:
        if version < EXPERIMENTS_SINCE:  # written before experiments existed: none in it
            return []
        seen = stored.stored_arms(conn)
        names = {a.experiment for a in seen}
        names |= {r[0] for r in conn.execute("SELECT DISTINCT experiment FROM experiment_events")}
        found = [
            Listed(n, tuple(a for a in seen if a.experiment == n), tuple(stored.events(conn, n)))
            for n in names
        ]
    except sqlite3.Error as err:
        raise DataUnavailable(f"the store at {path} cannot be read: {err}") from err
    finally:
        conn.close()
    return sorted(found, key=lambda x: (x.state != RUNNING, -x.last, x.name))


def arms_of(listed: Listed, settings: Settings, control: str | None = None) -> Arms:
    """Which upstream is the control: `control` if given, else the config's experiment,
    else the agent's `started` event, else the store's rows (a shadow's control is the
    upstream without copies). `stored.Unresolved` says what is missing."""
    configured = next((e for e in settings.experiments if e.name == listed.name), None)
    if control is None and configured is not None:
        return Arms(configured.kind, configured.control, configured.variant, "config")
    named = None if control else stored.from_events(list(listed.events))
    return named or stored.from_store(list(listed.arms), control)


def shares(events: tuple[dict, ...], until: float) -> pd.DataFrame:
    """The variant's share of the traffic (percent) from each event on, ending at `until`:
    columns at, share, event. An event's weight is the share while it was written; after
    a rollback the share is 0 and after a promotion 100 (as the canary routes)."""
    rows = []
    for e in events:
        share = e["weight"]
        if e["event"] == ROLLED_BACK:
            share = 0.0
        elif e["event"] == PROMOTED:
            share = 100.0
        if share is None:
            continue
        rows.append({"at": e["at"], "share": float(share), "event": e["event"]})
    if rows and until > rows[-1]["at"]:
        rows.append({"at": until, "share": rows[-1]["share"], "event": "now"})
    return pd.DataFrame(rows, columns=["at", "share", "event"])


def last_reason(events: tuple[dict, ...]) -> dict | None:
    """The latest event whose detail gives the gate's reason (a look, a step, the end)."""
    return next((e for e in reversed(events) if e["detail"].get("reason")), None)
