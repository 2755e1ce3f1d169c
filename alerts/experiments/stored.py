"""What the store knows of experiments, read-only: the experiments and arms it holds, the
agent's events (`experiment_events`), and which arm is the control when no config says."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import orjson

from alerts.experiments.arms import SHADOW


class Unresolved(Exception):
    """The store cannot say which arm is which: the message says what to pass."""


@dataclass(frozen=True)
class StoredArm:
    """One (experiment, variant) in the store: its requests, shadow copies among them,
    and the first and last wall times."""

    experiment: str
    variant: str
    requests: int
    shadow_copies: int
    first: float
    last: float


@dataclass(frozen=True)
class Arms:
    """Which upstream is the control and which the variant, the kind, and where it was
    learned (`flags`, `config`, `events` or `store`)."""

    kind: str
    control: str
    variant: str
    source: str


def stored_arms(conn: sqlite3.Connection, experiment: str | None = None) -> list[StoredArm]:
    """Every (experiment, variant) with rows, by experiment then variant; one experiment's
    only when `experiment` is given."""
    where, params = ("= ?", (experiment,)) if experiment else ("IS NOT NULL", ())
    rows = conn.execute(
        "SELECT experiment, variant, count(*), "
        "sum(json_extract(record, '$.shadow_of') IS NOT NULL), min(wall_time), max(wall_time) "
        f"FROM requests WHERE experiment {where} "  # noqa: S608 (fixed text, no input)
        "GROUP BY experiment, variant ORDER BY experiment, variant",
        params,
    ).fetchall()
    return [StoredArm(r[0], r[1] or "", r[2], r[3] or 0, r[4], r[5]) for r in rows]


def events(conn: sqlite3.Connection, experiment: str) -> list[dict]:
    """The agent's events of `experiment`, oldest first: at, event, step, weight, detail
    ([] for a store older than schema v6, which has no such table)."""
    try:
        rows = conn.execute(
            "SELECT at, event, step, weight, detail FROM experiment_events "
            "WHERE experiment = ? ORDER BY at, id",
            (experiment,),
        ).fetchall()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    return [
        {"at": r[0], "event": r[1], "step": r[2], "weight": r[3], "detail": orjson.loads(r[4])}
        for r in rows
    ]


def from_events(evts: list[dict]) -> Arms | None:
    """The arms the latest `started` event names (its detail's kind, control, variant)."""
    for e in reversed(evts):
        d = e["detail"]
        if e["event"] == "started" and d.get("control") and d.get("variant"):
            return Arms(str(d.get("kind") or "split"), d["control"], d["variant"], "events")
    return None


def from_store(seen: list[StoredArm], control: str | None) -> Arms:
    """The arms from the variants seen: two of them, the control named by `control` or, for
    a shadow experiment, the one without shadow copies. Unresolved otherwise."""
    names = [a.variant for a in seen]
    shown = ", ".join(f"{a.variant} ({a.requests} requests)" for a in seen)
    if len(names) != 2:
        raise Unresolved(f"{len(names)} upstreams seen ({shown}): pass --control and --variant")
    copies = [a.variant for a in seen if a.shadow_copies]
    kind = SHADOW if len(copies) == 1 else "split"
    if control is None and kind == SHADOW:
        control = next(n for n in names if n not in copies)
    if control is None:
        raise Unresolved(f"which arm is the control? seen: {shown}; pass --control NAME")
    if control not in names:
        raise Unresolved(f"--control {control} is not an upstream of the experiment ({shown})")
    return Arms(kind, control, next(n for n in names if n != control), "store")
