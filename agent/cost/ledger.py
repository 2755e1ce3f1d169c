"""The engine's bookkeeping types: metered charges, tracked requests, unsettled ticks."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from agent.cost.attribution import RUNNING, Participants
from agent.cost.config import DevicePrice
from collectors.base import DeviceInterval


@dataclass(frozen=True, slots=True)
class Charge:
    """What one device cost over one interval."""

    device_type: str
    cost: float
    device_seconds: float
    joules: float


def charge_of(iv: DeviceInterval, price: DevicePrice, basis: str, per_joule: float) -> Charge:
    """Metered cost of one interval: device-seconds x hourly price, plus energy if excluded."""
    seconds = iv.busy_device_seconds if basis == "busy" else iv.wall_seconds * iv.units
    seconds = max(0.0, seconds)
    joules = max(0.0, iv.joules or 0.0)
    cost = seconds * price.per_hour / 3600.0
    if not price.includes_energy:
        cost += joules * per_joule
    return Charge(iv.device_type, cost, seconds, joules)


@dataclass(slots=True, eq=False)
class Req:
    """One request the engine tracks, from `begin` until its record is released."""

    request_id: str
    key: tuple[str, str]  # (model, tenant) label values
    start: int
    stream: bool = False
    end: int = RUNNING
    first_token: int = 0
    prefill: float = 0.0  # weight x prompt tokens
    decode: float = 0.0  # weight x completion tokens
    two_phase: bool = False
    known: bool = False
    record: object | None = None  # the finished RequestRecord
    released: bool = False
    cost: float = 0.0
    device_seconds: float = 0.0
    joules: float = 0.0


@dataclass(slots=True, eq=False)
class Tick:
    """All device intervals with the same [start, end), waiting to be shared out."""

    start: int
    end: int
    charges: list[Charge]
    members: list[Req]
    arrived: int
    settled: bool = False


_FIELDS = (
    ("start", np.int64),
    ("first_token", np.int64),
    ("end", np.int64),
    ("prefill", np.float64),
    ("decode", np.float64),
    ("two_phase", bool),
    ("known", bool),
)


def participants(members: list[Req]) -> Participants:
    """The members of a tick as the arrays `attribution.share` takes."""
    n = len(members)
    cols = (np.fromiter(map(attrgetter(name), members), kind, n) for name, kind in _FIELDS)
    return Participants(*cols)
