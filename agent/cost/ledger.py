"""The engine's bookkeeping types: metered charges, tracked requests, unsettled ticks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.cost.attribution import RUNNING
from agent.cost.config import DevicePrice
from agent.record import RequestRecord
from collectors.base import DeviceInterval


@dataclass(frozen=True, slots=True)
class Charge:
    """What one device cost over one interval."""

    device_type: str
    cost: float
    device_seconds: float
    joules: float
    metered: bool = True  # False: the interval's use was not (wholly) measured


def charge_of(iv: DeviceInterval, price: DevicePrice, basis: str, per_joule: float) -> Charge:
    """Metered cost of one interval: device-seconds x hourly price, plus energy if excluded.

    An interval whose use was not measured (`iv.metered` False) is a metered charge only on
    the `allocated` basis, which does not depend on the use."""
    seconds = iv.busy_device_seconds if basis == "busy" else iv.wall_seconds * iv.units
    seconds = max(0.0, seconds)
    joules = max(0.0, iv.joules or 0.0)
    cost = seconds * price.per_hour / 3600.0
    if not price.includes_energy:
        cost += joules * per_joule
    return Charge(iv.device_type, cost, seconds, joules, iv.metered or basis != "busy")


def gap_charge(device_type: str) -> Charge:
    """A stretch a device's meter skipped (between two of its intervals): nothing metered."""
    return Charge(device_type, 0.0, 0.0, 0.0, metered=False)


@dataclass(slots=True, eq=False)
class Req:
    """One request the engine tracks, from `begin` until its record is released.

    Its numbers (token work, accrued cost, ...) are row `slot` of the engine's `Columns`;
    `start`, `end` and `released` are mirrored here for the engine's queue checks."""

    request_id: str
    key: tuple[str, str]  # (model, tenant) label values
    start: int
    slot: int
    stream: bool = False
    end: int = RUNNING
    record: RequestRecord | None = None  # once finished, until forwarded
    released: bool = False
    # Its final share, set when it is released (on the Req rather than in a tuple per
    # record: a tick releases ~1,700 at c1, and as many new tuples set off two young
    # collections in the tick's stall, 0.85 of its 2.2 ms).
    cost: float = 0.0
    device_seconds: float = 0.0
    joules: float = 0.0
    unmetered: bool = False  # some of its span no meter covered (see `record.COST_UNMETERED`)


@dataclass(slots=True, eq=False)
class Tick:
    """All device intervals with the same [start, end), waiting to be shared out."""

    start: int
    end: int
    charges: list[Charge]
    members: np.ndarray  # slots of the requests overlapping it
    arrived: int
    settled: bool = False
