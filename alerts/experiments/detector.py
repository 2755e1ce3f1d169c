"""`ExperimentDetector`: a canary the agent rolled back, as an alert for the on-call engineer.

The agent's canary controller writes a `rolled_back` event to the store's
`experiment_events` table when a gate fails (and sends all of the pair's traffic back to
the control). Each evaluation reads the `started` and `rolled_back` events read-only and
raises `InferwatchCanaryRolledBack` (critical) for every experiment whose latest of the
two is a rollback, firing from the rollback's time.

It stays firing until the canary is started again (a later `started` event: the agent
starts a canary anew when its configuration changed; an agent restarted with the same one
resumes it rolled back, and the alert goes on), not for a fixed time: a rollback leaves the release undone and the variant without traffic, a state
that lasts until someone acts, so an alert that resolved on its own would read as "fixed"
when nothing was. Argo Rollouts keeps an aborted rollout `Degraded` until it is retried or
its spec changes, and Flagger keeps a canary `Failed` until a new revision starts its
analysis; the agent's own `inferwatch_experiment_canary_state{state="rolled_back"}` stays
1 the same way. An experiment abandoned instead of restarted is silenced
(`inferwatch alerts silence add 'experiment="NAME"'`).

A store from before schema v6 has no `experiment_events` table: no rollbacks, no error.
A store that cannot be read raises `alerts.source.SourceUnavailable` (the evaluator keeps
the alerts as they were rather than resolving them).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson

from alerts.model import Alert
from alerts.source import SourceUnavailable

log = logging.getLogger("inferwatch.alerts.experiments")

ROLLED_BACK_ALERT = "InferwatchCanaryRolledBack"
# Event names of agent.store.experiments, repeated so that this module reads the store
# without the agent's store package (it never migrates or writes).
STARTED, ROLLED_BACK = "started", "rolled_back"
UNKNOWN = "unknown"
_TABLE_SQL = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiment_events'"
_EVENTS_SQL = (
    "SELECT at, experiment, event, step, weight, detail FROM experiment_events "
    "WHERE event IN (?, ?) ORDER BY at, id"
)


@dataclass(frozen=True)
class Rollback:
    """A rollback not followed by a restart: what the alert says about it."""

    at: float
    experiment: str
    step: int | None
    weight: float | None
    detail: dict


class ExperimentDetector:
    """A detector of the shared contract: `evaluate(now)` and `families()`.

    `store_path` is the agent's embedded store (read-only); `external_url` the agent's
    URL as receivers link to it (the alert's generator URL is the experiment's report).
    """

    def __init__(
        self, store_path: str | Path, external_url: str = "", busy_timeout_ms: int = 2000
    ) -> None:
        self.store_path = Path(store_path)
        self._url, self._busy_ms = external_url.rstrip("/"), busy_timeout_ms
        self.result = "ok"  # of the last evaluation (the evaluator reports it)

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """The rollback alerts active now: one per experiment rolled back and not since
        restarted. `now` is unused (the events carry their own times); it is the contract."""
        return [self._alert(r) for r in self.rollbacks()]

    def families(self) -> list:
        """None: the agent itself exports the rollback counter and the canary state."""
        return []

    def rollbacks(self) -> list[Rollback]:
        """Per experiment, its latest rollback when no `started` event came after it."""
        latest: dict[str, tuple] = {}
        for row in self._rows():
            latest[row[1]] = row  # ordered by time: the last one wins
        return [_rollback(r) for r in latest.values() if r[2] == ROLLED_BACK]

    def _rows(self) -> list[tuple]:
        if not self.store_path.is_file():
            raise SourceUnavailable(f"no store at {self.store_path} (is --data-dir right?)")
        uri = self.store_path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout={int(self._busy_ms)}")
                if conn.execute(_TABLE_SQL).fetchone() is None:
                    return []  # a store older than schema v6: no experiments yet
                return conn.execute(_EVENTS_SQL, (STARTED, ROLLED_BACK)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise SourceUnavailable(f"cannot read the store {self.store_path}: {err}") from err

    def _alert(self, r: Rollback) -> Alert:
        labels = {"alertname": ROLLED_BACK_ALERT, "experiment": r.experiment}
        labels["severity"] = "critical"
        url = f"{self._url}/inferwatch/experiments/{quote(r.experiment)}" if self._url else ""
        return Alert(labels, rollback_annotations(r), starts_at=r.at, generator_url=url)


def rollback_annotations(r: Rollback) -> dict[str, str]:
    """Summary, description, and each fact of the rollback as its own annotation."""
    control = _text(r.detail.get("control"))
    variant = _text(r.detail.get("variant"))
    reason = _text(r.detail.get("reason"))
    step = UNKNOWN if r.step is None else str(r.step)
    weight = UNKNOWN if r.weight is None else f"{r.weight:g}%"
    return {
        "summary": f"Canary {r.experiment} rolled back to {control}",
        "description": (
            f"The gate of canary {r.experiment} failed at step {step}, with {weight} of the "
            f"pair's traffic on {variant}: {reason}. All of the pair's traffic went back to "
            f"{control}; the alert resolves when the canary is started again."
        ),
        "reason": reason,
        "control": control,
        "variant": variant,
        "step": step,
        "weight": weight,
    }


def _rollback(row: tuple) -> Rollback:
    at, experiment, _, step, weight, detail = row
    return Rollback(float(at), experiment, step, weight, _detail(experiment, detail))


def _detail(experiment: str, text: str | None) -> dict:
    # A rollback is paged even when its detail cannot be read: the facts say "unknown".
    try:
        detail = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        log.warning("rollback of %s: its detail is not JSON; alerting without it", experiment)
        return {}
    return detail if isinstance(detail, dict) else {}


def _text(value: object) -> str:
    """One line of an annotation (a reason with newlines would break chat formats)."""
    if value is None or value == "":
        return UNKNOWN
    return " ".join(str(value).split())
