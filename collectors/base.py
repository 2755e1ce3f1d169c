"""What every collector is: a name and `collect()` returning an immutable snapshot.

Collectors run periodically off the request path (the registry calls `collect()` in a
worker thread with a time limit); `/metrics` only reads the latest snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from prometheus_client.metrics_core import Metric


@dataclass(frozen=True, slots=True)
class DeviceInterval:
    """One device's metered use over one collector tick: what the cost engine shares out.

    Timestamps are `time.monotonic_ns()`, the same clock as `RequestRecord`, so requests
    can be joined to the intervals they overlap.
    """

    device_id: str  # stable id: "gpu:<UUID>" or "cpu:<hostname>"
    device_type: str  # the price key: a GPU model name, or "cpu-core"
    start_ns: int
    end_ns: int
    busy_device_seconds: float  # device-seconds of work (GPU util x wall; CPU core-seconds)
    wall_seconds: float
    joules: float | None  # from an energy counter where there is one, else power x time
    units: float = 1.0  # devices billed for this interval (1 GPU; N CPU cores)
    # False when the serving process's use over the interval could not be measured (its
    # process tree not found, or found only part way through): `busy_device_seconds` is
    # then a lower bound, often 0, and the cost engine marks the requests in it unmetered.
    metered: bool = True


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The result of one collection: metric families ready to expose, plus device intervals.

    `no_data` means "nothing to measure here" (no GPU, no driver): not a failure.
    """

    collector: str
    taken_ns: int
    families: tuple[Metric, ...] = ()
    devices: tuple[DeviceInterval, ...] = ()
    no_data: bool = False


@runtime_checkable
class Collector(Protocol):
    """A source of periodic measurements. `collect()` may block (it runs in a thread) and
    may raise; the registry catches, counts and reports the failure."""

    name: str

    def collect(self) -> Snapshot: ...
