"""A data folder holding experiments, for the Experiments page's tests: a running A/B split
whose variant is clearly slower, a canary rolled back at its second step for its errors,
and a shadow whose copies are each 10% slower and 1.1 x 1.3 times costlier than their
primaries. Records and events are written by the store's own code
(tests/experiment_store.py, agent.store.experiments.ExperimentLog)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from agent.store.experiments import GATE, ROLLED_BACK, STEP, ExperimentLog
from tests.experiment_store import T0, arm, started, write_store

STORE = "requests.sqlite3"  # the store's default file name in its folder
SPLIT, CANARY, SHADOW = "ab-latency", "canary-b", "shadow-c"
REASON = "error rate +19.0 points [12.0, 26.0] over the 1.0-point margin"


@dataclass(frozen=True)
class Seeded:
    """Where the store is, and when the last request and event were (epoch s)."""

    folder: Path
    last: float


def seed_experiments(folder: Path, t0: float = T0) -> Seeded:
    """The three experiments, their requests from `t0` on (one a second per arm)."""
    shift = t0 - T0

    def at(records: list) -> list:
        return [dataclasses.replace(r, wall_time=r.wall_time + shift) for r in records]

    split = arm(600, "stable", seed=1, experiment=SPLIT)
    split += arm(600, "fast-v2", seed=2, experiment=SPLIT, slower=1.6)
    canary = arm(400, "stable", seed=3, experiment=CANARY)
    canary += arm(150, "candidate", seed=4, experiment=CANARY, error_rate=0.2)
    primaries = arm(300, "stable", seed=5, experiment=SHADOW)
    # The same draws as the primaries (same seed): each copy 10% slower, 30% costlier still.
    copies = arm(300, "shadow-v3", seed=5, experiment=SHADOW, slower=1.1, costlier=1.3)
    copies = [
        dataclasses.replace(c, shadow_of=p.request_id, wall_time=p.wall_time)
        for c, p in zip(copies, primaries, strict=True)
    ]
    path = write_store(folder / STORE, at(split + canary + primaries + copies))
    started(path, SPLIT, "split", "stable", "fast-v2")
    started(path, SHADOW, "shadow", "stable", "shadow-v3")
    _canary_events(path, t0)
    return Seeded(folder, t0 + 600)


def _canary_events(path: Path, t0: float) -> None:
    """Started, step 1 at 1%, step 2 at 5%, a look still undecided, then the rollback."""
    log = ExperimentLog(path)
    arms = {"control": "stable", "variant": "candidate"}
    log.add(CANARY, "started", 0, 0.0, {"kind": "canary", **arms}, at=t0)
    log.add(CANARY, STEP, 1, 1.0, arms, at=t0 + 1)
    log.add(CANARY, STEP, 2, 5.0, arms | {"decision": "pass", "reason": "all within"}, t0 + 200)
    look = arms | {"decision": "continue", "reason": "error rate: not enough data"}
    log.add(CANARY, GATE, 2, 5.0, look, at=t0 + 250)
    failed = arms | {"decision": "fail", "reason": REASON}
    log.add(CANARY, ROLLED_BACK, 2, 5.0, failed, at=t0 + 400)
