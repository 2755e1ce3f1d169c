"""The cost engine: tracks requests, meters each tick, shares it out, releases records.

Lifecycle of a tick (all device intervals with the same [start, end)):
1. On arrival its metered cost is fixed and its members are fixed: every request whose
   active span [start, end) overlaps it, running or finished.
2. It is *settled* (shared out, see `attribution`) as soon as every member has finished,
   so the split uses each member's real token counts. Request starts are kept in begin
   order, so that is simply "the oldest request still running began at or after the
   tick's end": ticks settle in time order, at O(1) bookkeeping per request. A tick still
   waiting after `max_hold_s` is settled anyway: members still running are charged an
   estimate, which is final for that tick. So a long request never holds others hostage.
3. A finished request's record is *released* (cost fields written, then forwarded) when
   no unsettled tick overlaps it and every live device has metered past its end; or, at
   the latest, `max_hold_s` after it ended (collector stalled).

Every tick's cost is split exactly once into request shares plus idle, so requests +
idle = metered holds at every moment, not only on average. Metrics count shares when a
tick settles; the record carries the sum of its shares when it is released.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from operator import attrgetter

from agent.cost.attribution import RUNNING, share
from agent.cost.config import CostConfig, PriceBook
from agent.cost.ledger import Charge, Req, Tick, charge_of, participants
from agent.cost.restart import Restartable, Totals
from agent.record import RequestRecord
from collectors.base import DeviceInterval

_EWMA = 0.1  # weight of the newest request in the estimated work rate
_RECORD_FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]
_ALL_FIELDS = attrgetter(*_RECORD_FIELDS)  # one C call returns every field, in order
_COST_AT = _RECORD_FIELDS.index("cost_currency")
assert _RECORD_FIELDS[_COST_AT : _COST_AT + 4] == [
    "cost_currency", "cost_amount", "cost_device_seconds", "cost_joules",
]  # fmt: skip


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
        self._order: deque[Req] = deque()  # begun, in start order (finished ones dropped lazily)
        self._last_start = 0
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
        # A tick already received cannot be joined afterwards; starts never go backwards
        # (by a few microseconds at most), so the oldest running request is the first.
        start = self._last_start = max(start_ns, self._delivered, self._last_start)
        req = Req(request_id, (model or "unknown", tenant), start, stream)
        self._running[request_id] = req
        self._order.append(req)

    def finish(self, record: RequestRecord) -> None:
        """A request ended (proxy `finish`): hold its record until its cost is final."""
        self.finish_many((record,))

    def finish_many(self, records: Sequence[RequestRecord]) -> None:
        """Several requests ended: as `finish` for each, with one settle-and-release pass."""
        for record in records:
            req = self._running.pop(record.request_id, None)
            if req is None:  # never reached the model (refused, passthrough): no device share
                self._forward(self._costed(record, 0.0, 0.0, 0.0))
                continue
            self._complete(req, record)
            self._recent.append(req)
            self._waiting.append(req)
        self.housekeep()

    def _complete(self, req: Req, r: RequestRecord) -> None:
        w = self._cfg.weights
        req.end = max(r.end_ns, req.start)
        req.record = r
        req.known = r.prompt_tokens is not None or r.completion_tokens is not None
        req.prefill = w.prefill * (r.prompt_tokens or 0)
        req.decode = w.decode * (r.completion_tokens or 0)
        ft = r.first_token_ns
        req.two_phase = bool(
            self._cfg.split_at_first_token
            and req.stream
            and ft is not None
            and req.start < ft < req.end
        )
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
        self._pending.append(Tick(a, b, charges, members, now))
        self._delivered = max(self._delivered, b)

    def _settle(self, tick: Tick) -> None:
        tick.settled = True
        by_key: dict[tuple[str, str], float] = defaultdict(float)
        idle = 1.0
        if tick.members:
            split = share(tick.start, tick.end, participants(tick.members), self.rate or 1.0)
            idle = split.idle
            self._credit(tick, split.fractions, by_key)
        self._account(tick, by_key, idle)

    def _credit(self, tick: Tick, fractions, by_key: dict) -> None:
        """Add each member's share of the tick (the hot loop: one pass, no calls)."""
        cost = sum(c.cost for c in tick.charges)
        seconds = sum(c.device_seconds for c in tick.charges)
        joules = sum(c.joules for c in tick.charges)
        amounts = (fractions * cost).tolist()
        secs, jouls = (fractions * seconds).tolist(), (fractions * joules).tolist()
        rows = zip(tick.members, amounts, secs, jouls, strict=True)
        late = 0.0
        for r, amount, sec, joule in rows:
            r.cost += amount
            r.device_seconds += sec
            r.joules += joule
            by_key[r.key] += amount
            if r.released:
                late += amount
        self.totals.late += late

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
        """Settle what can be settled, release what can be released; force both after
        `max_hold_s`. Runs after every tick and finish, and on the service's timer."""
        now = self._clock() if now is None else now
        limit = now - self._hold_ns
        oldest = self._oldest_start()
        while self._pending and (
            self._pending[0].settled
            or self._pending[0].end <= oldest
            or self._pending[0].arrived <= limit  # members still running get the estimate
        ):
            tick = self._pending.popleft()
            if not tick.settled:
                self._settle(tick)
        self._release(now, limit)
        if self._sink:
            self._sink.held(len(self._waiting))

    def _oldest_start(self) -> int:
        """Start of the oldest request still running (RUNNING, i.e. +inf, if none)."""
        order = self._order
        while order and order[0].end != RUNNING:
            order.popleft()
        return order[0].start if order else RUNNING

    def _release(self, now: int, limit: int) -> None:
        """Release finished records that no unsettled tick overlaps and every live device has
        metered past (strictly: a tick starting at a request's end still includes it)."""
        covered = self._covered_until(now)
        unsettled = min((t.start for t in self._pending if not t.settled), default=RUNNING)
        ready = min(covered, unsettled)
        while self._waiting and (self._waiting[0].end < ready or self._waiting[0].end <= limit):
            req = self._waiting.popleft()
            if req.end >= ready:  # waited max_hold_s: settle the ticks it is in, as they are
                self._settle_all(t for t in self._pending if t.start <= req.end)
            self._maybe_release(req)
        # Forget released requests once no tick to come can overlap them: every device
        # known has metered past them (or, with a device gone quiet, after 10 x max_hold_s).
        metered = min((until for until, _ in self._devices.values()), default=-1)
        forget = max(metered - 1, now - 10 * self._hold_ns)
        while self._recent and self._recent[0].released and self._recent[0].end <= forget:
            self._recent.popleft()

    def _covered_until(self, now: int) -> int:
        """Time up to which every live device (seen within `max_hold_s`) has metered."""
        live = [until for until, seen in self._devices.values() if seen > now - self._hold_ns]
        return min(live) if live else -1

    def _settle_all(self, ticks) -> None:
        for tick in list(ticks):
            if not tick.settled:
                self._settle(tick)

    def _maybe_release(self, req: Req) -> None:
        if req.released or req.record is None:
            return
        req.released = True
        rec = self._costed(req.record, req.cost, req.device_seconds, req.joules)
        if self._sink:
            self._sink.released(rec, req)
        self._forward(rec)

    def _costed(self, r: RequestRecord, amount: float, seconds: float, joules: float):
        # As dataclasses.replace, at half the cost (positional, no per-field checks).
        values = list(_ALL_FIELDS(r))
        values[_COST_AT : _COST_AT + 4] = (self._cfg.currency, amount, seconds, joules)
        return RequestRecord(*values)

    @property
    def held(self) -> int:
        """Finished records not yet released."""
        return len(self._waiting)
