"""The cost engine: tracks requests, meters each tick, shares it out, releases records.

Lifecycle of a tick (all device intervals with the same [start, end)):
1. On arrival its metered cost is fixed and its members are fixed: every request whose
   active span [start, end) overlaps it, running or finished.
2. It is *settled* (shared out, see `attribution`) as soon as every member has finished,
   so the split uses each member's real token counts. A tick still waiting after
   `max_hold_s` is settled anyway: members still running are charged an estimate, which
   is final for that tick. So a request running for minutes never holds others hostage.
3. A finished request's record is *released* (cost fields written, then forwarded) when
   every tick it belongs to is settled and every live device has metered past its end;
   or, at the latest, `max_hold_s` after it ended (collector stalled).

Every tick's cost is split exactly once into request shares plus idle, so requests +
idle = metered holds at every moment, not only on average. Metrics count shares when a
tick settles; the record carries the sum of its shares when it is released.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence

from agent.cost.attribution import RUNNING, share
from agent.cost.config import CostConfig, PriceBook
from agent.cost.ledger import Charge, Req, Tick, charge_of, participants
from agent.cost.restart import Restartable, Totals
from agent.record import RequestRecord
from collectors.base import DeviceInterval

_EWMA = 0.1  # weight of the newest request in the estimated work rate


class CostEngine(Restartable):
    """Shares metered device cost among requests; see the module docstring."""

    def __init__(
        self,
        config: CostConfig,
        forward: Callable[[RequestRecord], object],
        sink=None,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._cfg, self._forward, self._clock = config, forward, clock
        self._sink = sink  # CostMetrics-like: receives shares, idle, releases (may be None)
        self._book = PriceBook(config)
        self._hold_ns = int(config.max_hold_s * 1e9)
        self._running: dict[str, Req] = {}
        self._recent: deque[Req] = deque()  # finished, may still overlap future ticks
        self._waiting: deque[Req] = deque()  # finished, not yet covered by every device
        self._pending: deque[Tick] = deque()  # unsettled ticks, oldest first
        self._devices: dict[str, tuple[int, int]] = {}  # id -> (metered until, seen at)
        self._delivered = 0  # latest end of any tick received
        self.rate: float | None = None  # estimated work per second of a request
        self.totals = Totals()

    # ---- requests -----------------------------------------------------------------------

    def begin(self, request_id: str, start_ns: int, tenant: str, model: str, stream: bool) -> None:
        """A request was sent upstream (proxy `on_begin`)."""
        # A tick already received cannot be joined afterwards.
        start = max(start_ns, self._delivered)
        self._running[request_id] = Req(request_id, (model or "unknown", tenant), start, stream)

    def finish(self, record: RequestRecord) -> None:
        """A request ended (proxy `finish`): hold its record until its cost is final."""
        req = self._running.pop(record.request_id, None)
        if req is None:  # never reached the model (refused, passthrough): no device share
            self._forward(self._costed(record, 0.0, 0.0, 0.0))
            return
        self._complete(req, record)
        for tick in req.groups:
            if not tick.settled:
                tick.unfinished -= 1
                if tick.unfinished == 0:
                    self._settle(tick)
        self._recent.append(req)
        if req.end <= self._covered_until(self._clock()):
            req.covered = True
        else:
            self._waiting.append(req)
        self._maybe_release(req)

    def _complete(self, req: Req, r: RequestRecord) -> None:
        w = self._cfg.weights
        req.end = max(r.end_ns, req.start)
        req.record = r
        req.known = r.prompt_tokens is not None or r.completion_tokens is not None
        req.prefill = w.prefill * (r.prompt_tokens or 0)
        req.decode = w.decode * (r.completion_tokens or 0)
        ft = r.first_token_ns
        req.two_phase = bool(req.stream and ft is not None and req.start < ft < req.end)
        req.first_token = ft if req.two_phase else 0
        seconds = (req.end - req.start) / 1e9
        if req.known and seconds > 0 and req.prefill + req.decode > 0:
            rate = (req.prefill + req.decode) / seconds
            self.rate = rate if self.rate is None else self.rate + _EWMA * (rate - self.rate)

    # ---- ticks --------------------------------------------------------------------------

    def on_intervals(self, intervals: Sequence[DeviceInterval]) -> None:
        """The collector registry's tick callback: meter, then share out what can be."""
        now = self._clock()
        by_span: dict[tuple[int, int], list[Charge]] = defaultdict(list)
        for iv in intervals:
            if iv.end_ns <= iv.start_ns:
                continue
            price = self._book.price(iv.device_type)
            charge = charge_of(iv, price, self._cfg.basis, self._book.energy_per_joule)
            by_span[(iv.start_ns, iv.end_ns)].append(charge)
            self._devices[iv.device_id] = (max(iv.end_ns, self._seen_until(iv.device_id)), now)
            self._note_metered(iv, charge)
        for (a, b), charges in sorted(by_span.items()):
            self._open_tick(a, b, charges, now)
        self.housekeep(now)

    def _seen_until(self, device_id: str) -> int:
        return self._devices.get(device_id, (0, 0))[0]

    def _note_metered(self, iv: DeviceInterval, charge: Charge) -> None:
        self.totals.metered += charge.cost
        if self._sink:
            self._sink.metered(iv, charge)

    def _open_tick(self, a: int, b: int, charges: list[Charge], now: int) -> None:
        members = [r for r in self._running.values() if r.start < b]
        members += [r for r in self._recent if r.end >= a and r.start < b]
        tick = Tick(a, b, charges, members, len(members) - self._finished(members), now)
        for r in members:
            r.pending += 1
            r.groups.append(tick)
        self._delivered = max(self._delivered, b)
        if tick.unfinished == 0:
            self._settle(tick)
        else:
            self._pending.append(tick)

    @staticmethod
    def _finished(members: list[Req]) -> int:
        return sum(1 for r in members if r.end != RUNNING)

    def _settle(self, tick: Tick) -> None:
        tick.settled = True
        by_key: dict[tuple[str, str], float] = defaultdict(float)
        idle = 1.0
        if tick.members:
            split = share(tick.start, tick.end, participants(tick.members), self.rate or 1.0)
            idle = split.idle
            self._credit(tick, split.fractions.tolist(), by_key)
        self._account(tick, by_key, idle)
        for r in tick.members:  # release those for which this was the last tick
            if not r.pending and r.covered and not r.released and r.record is not None:
                self._maybe_release(r)

    def _credit(self, tick: Tick, fractions: list[float], by_key: dict) -> None:
        """Add each member's share of the tick (the hot loop: one pass, no calls)."""
        cost = sum(c.cost for c in tick.charges)
        seconds = sum(c.device_seconds for c in tick.charges)
        joules = sum(c.joules for c in tick.charges)
        for r, f in zip(tick.members, fractions, strict=True):
            amount = cost * f
            r.cost += amount
            r.device_seconds += seconds * f
            r.joules += joules * f
            r.pending -= 1
            by_key[r.key] += amount
            if r.released:
                self.totals.late += amount

    def _account(self, tick: Tick, by_key: dict, idle: float) -> None:
        attributed = sum(by_key.values())
        self.totals.attributed += attributed
        idle_cost = 0.0
        for c in tick.charges:
            idle_cost += c.cost * idle
            if self._sink and c.cost * idle > 0:
                self._sink.idle(c.device_type, c.cost * idle)
        self.totals.idle += idle_cost
        if self._sink and by_key:
            self._sink.shares(by_key)

    # ---- holding and release ------------------------------------------------------------

    def housekeep(self, now: int | None = None) -> None:
        """Settle ticks and release records that have waited `max_hold_s`; drop old state."""
        now = self._clock() if now is None else now
        limit = now - self._hold_ns
        while self._pending and (self._pending[0].settled or self._pending[0].arrived <= limit):
            tick = self._pending.popleft()
            if not tick.settled:
                self._settle(tick)  # members still running are charged the estimate
        covered = self._covered_until(now)
        while self._waiting and (self._waiting[0].end <= covered or self._waiting[0].end <= limit):
            req = self._waiting.popleft()
            req.covered = True
            if req.end > covered:  # waited too long for a device: settle what it is in
                self._settle_all(req.groups)
            self._maybe_release(req)
        while self._recent and self._recent[0].released and self._recent[0].end < covered:
            self._recent.popleft()
        while self._recent and self._recent[0].end <= limit - self._hold_ns:
            self._recent.popleft()  # no live device: nothing can meter it any more
        if self._sink:
            self._sink.held(self.held)

    def _covered_until(self, now: int) -> int:
        """Time up to which every live device (seen within `max_hold_s`) has metered."""
        live = [until for until, seen in self._devices.values() if seen > now - self._hold_ns]
        return min(live) if live else -1

    def _settle_all(self, ticks) -> None:
        for tick in list(ticks):
            if not tick.settled:
                self._settle(tick)

    def _maybe_release(self, req: Req) -> None:
        if req.released or req.record is None or req.pending or not req.covered:
            return
        req.released = True
        req.groups = []
        rec = self._costed(req.record, req.cost, req.device_seconds, req.joules)
        if self._sink:
            self._sink.released(rec, req)
        self._forward(rec)

    def _costed(self, r: RequestRecord, amount: float, seconds: float, joules: float):
        return dataclasses.replace(
            r,
            cost_currency=self._cfg.currency,
            cost_amount=amount,
            cost_device_seconds=seconds,
            cost_joules=joules,
        )

    @property
    def held(self) -> int:
        """Finished records not yet released."""
        return sum(1 for r in self._recent if not r.released)
