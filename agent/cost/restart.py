"""Stopping and restarting the cost engine without losing any request's cost.

`flush` settles every tick and releases every finished record with its cost so far (final);
`snapshot` keeps what requests still running have accrued, the totals, and the recently
finished requests (so the next tick still shares correctly); `restore` takes that over in
a new engine. The state is plain JSON-able data, so it may go through a file.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from agent.cost.ledger import Req, Tick
from agent.cost.slots import Columns


@dataclasses.dataclass(slots=True)
class Totals:
    """Cumulative amounts since the engine (or the state it restored) began."""

    metered: float = 0.0
    idle: float = 0.0
    attributed: float = 0.0
    late: float = 0.0  # shares of requests whose record had already left (collector stalled)


def _work(c: Columns, slot: int) -> list:
    """A finished request's token work as plain JSON-able values."""
    return [
        int(c.first_token[slot]),
        float(c.prefill[slot]),
        float(c.decode[slot]),
        bool(c.two_phase[slot]),
    ]


class _Engine(Protocol):
    """What `Restartable` needs of the engine it is mixed into."""

    _cols: Columns
    _running: dict[str, Req]
    _order: deque[Req]
    _recent: deque[Req]
    _waiting: deque[Req]
    _pending: deque[Tick]
    _devices: dict[str, tuple[int, int]]
    _first: dict[str, int]
    _last_start: int
    _delivered: int
    rate: float | None
    totals: Totals

    def _settle_all(self, ticks: Iterable[Tick]) -> None: ...
    def _release_all(self, reqs: Sequence[Req]) -> None: ...
    def _slot(self, start: int, key: tuple[str, str]) -> int: ...
    def accrued(self, req: Req) -> tuple[float, float, float]: ...


class Restartable:
    """The engine's flush / snapshot / restore (mixed into `CostEngine`)."""

    def flush(self: _Engine) -> None:
        """Settle every tick now and release every finished record (costs so far, final).

        Requests still running keep what they have accrued (see `snapshot`)."""
        self._settle_all(self._pending)
        self._pending.clear()
        self._release_all(self._waiting)
        self._waiting.clear()

    def snapshot(self: _Engine) -> dict[str, Any]:
        """Plain-data state for a restart: running requests' accrued cost and the totals.

        Call `flush` first; a new engine given this to `restore` carries on where this left."""
        c = self._cols
        running = [
            [r.request_id, *r.key, r.start, r.stream, *self.accrued(r), bool(c.unmetered[r.slot])]
            for r in self._running.values()
        ]
        recent = [
            [r.request_id, *r.key, r.start, r.end, *_work(c, r.slot)]
            for r in self._recent
            if c.known[r.slot]
        ]
        return {
            "running": running,
            "recent": recent,
            "totals": dataclasses.asdict(self.totals),
            "delivered": self._delivered,
            "rate": self.rate,
            # What each device has metered: spans it covered stay covered across the restart.
            "devices": {d: [self._first[d], *v] for d, v in self._devices.items()},
        }

    def restore(self: _Engine, state: dict[str, Any]) -> None:
        """Take over a `snapshot`: requests in flight keep their accrued cost."""
        c = self._cols
        for rid, model, tenant, start, stream, cost, seconds, joules, *un in state["running"]:
            req = Req(rid, (model, tenant), start, self._slot(start, (model, tenant)), stream)
            c.cost[req.slot], c.device_seconds[req.slot], c.joules[req.slot] = cost, seconds, joules
            c.unmetered[req.slot] = bool(un and un[0])
            self._running[rid] = req
            self._order.append(req)
            self._last_start = max(self._last_start, start)
        for rid, model, tenant, start, end, ft, pre, dec, two in state["recent"]:
            req = Req(rid, (model, tenant), start, self._slot(start, (model, tenant)), two, end)
            req.released = True  # its record has left; late shares go to metrics
            slot = req.slot
            c.end[slot], c.first_token[slot], c.prefill[slot], c.decode[slot] = end, ft, pre, dec
            c.two_phase[slot], c.known[slot], c.released[slot] = two, True, True
            self._recent.append(req)
        self.totals = Totals(**state["totals"])
        self._delivered = max(self._delivered, state["delivered"])
        self.rate = state["rate"]
        for device, (first, until, seen) in state.get("devices", {}).items():
            self._first[device], self._devices[device] = first, (until, seen)
