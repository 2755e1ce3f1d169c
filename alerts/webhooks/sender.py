"""The sender: an asyncio task delivering due outbox entries to their receivers.

It has its own connection to alerts.db and writes each outcome in one short statement,
every SQLite call off the event loop (on one thread of its own, in order). Per round it
takes the due entries (the oldest pending one of each group: order is kept per group),
and delivers each receiver's in order, the receivers side by side; a receiver that
fails is left alone for the rest of the round. Failures are retried with exponential
backoff and jitter until `alerts.delivery.max_attempts` or `max_age_s`, then kept as
dead letters (`dropped`); a refused one is a dead letter at once (`refused`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.catalogue import load_catalogue
from alerts import db
from alerts.config import AlertsConfig
from alerts.webhooks.config import DeliveryConfig
from alerts.webhooks.delivery import RESULTS, SENT, Outcome, attempt
from alerts.webhooks.hosts import check_receivers
from alerts.webhooks.outbox import Entry, Outbox

log = logging.getLogger("inferwatch.alerts.webhooks")
DROPPED = "dropped"
NOTIFICATIONS = "inferwatch_alert_notifications_total"
PENDING = "inferwatch_alert_outbox_pending"
BATCH = 100  # entries per round: bounds one round's memory, not its throughput


def backoff_s(config: DeliveryConfig, attempts: int, rng: random.Random) -> float:
    """Wait after the `attempts`-th failed attempt: base * factor^(attempts-1), at most
    the max, less a random share of up to `backoff_jitter` of it (so receivers that
    recover are not hit by every sender at once)."""
    delay = min(
        config.backoff_max_s, config.backoff_base_s * config.backoff_factor ** (attempts - 1)
    )
    return delay * (1 - config.backoff_jitter * rng.random())


class Sender:
    """Delivers the outbox of the alerts database at `db_path` to `config.webhooks`."""

    def __init__(
        self,
        config: AlertsConfig,
        db_path: str | Path,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        check_receivers(config)  # refuse a host outside allowed_hosts at start
        self.hooks = {h.name: h for h in config.webhooks}
        self.delivery = config.delivery
        self.db_path, self.clock = db_path, clock
        self.rng = rng or random.Random()
        self.counts: Counter[tuple[str, str]] = Counter(
            {(name, r): 0 for name in self.hooks for r in (*RESULTS, DROPPED)}
        )
        self.pending: dict[str, int] = dict.fromkeys(self.hooks, 0)
        self._outbox: Outbox | None = None
        # Every call on the connection runs on this one thread, in order: a call still
        # running when its task is cancelled (at shutdown) ends before `close` closes the
        # connection. With `to_thread`, close ran beside it on another thread: a crash in
        # SQLite (a segmentation fault in CI).
        self._executor: ThreadPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None
        self._db_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        specs = load_catalogue()
        self._help = {name: specs[name].help for name in (NOTIFICATIONS, PENDING)}

    async def _db(self, fn: Callable, *args):
        # One SQLite call at a time on the sender's connection, off the event loop.
        async with self._db_lock:
            if self._outbox is None:
                conn = await self._on_db_thread(db.connect, self.db_path)
                self._outbox = await self._on_db_thread(Outbox, conn)
            return await self._on_db_thread(fn, self._outbox, *args)

    async def _on_db_thread(self, fn: Callable, *args):
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="webhook-db")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def run_once(self) -> int:
        """One round: deliver every due entry once; returns the number of attempts."""
        self._loop = asyncio.get_running_loop()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        session, now = self._session, self.clock()
        await self._db(Outbox.prune, now - self.delivery.retention_s)
        by_receiver: dict[str, list[Entry]] = defaultdict(list)
        for entry in await self._db(Outbox.due, now, BATCH):
            by_receiver[entry.receiver].append(entry)
        done = await asyncio.gather(*(self._deliver_all(session, e) for e in by_receiver.values()))
        pending = await self._db(Outbox.pending_by_receiver)
        self.pending = {**dict.fromkeys(self.hooks, 0), **pending}
        return sum(done)

    async def _deliver_all(self, session: aiohttp.ClientSession, entries: list[Entry]) -> int:
        for n, entry in enumerate(entries, 1):
            outcome = await self._deliver(session, entry)
            if outcome is not None and outcome.retry:
                return n  # the receiver is failing: its other groups wait for a later round
        return len(entries)

    async def _deliver(self, session: aiohttp.ClientSession, entry: Entry) -> Outcome | None:
        hook = self.hooks.get(entry.receiver)
        if hook is None:
            await self._give_up(entry, "receiver is no longer configured")
            return None
        outcome = await attempt(session, hook, entry.notification, self.clock())
        self.counts[(entry.receiver, outcome.result)] += 1
        if outcome.result == SENT:
            await self._db(Outbox.mark_sent, entry.id, self.clock())
        elif not outcome.retry:
            await self._give_up(entry, f"{outcome.result}: {outcome.detail}", count=False)
        else:
            await self._retry(entry, outcome)
        return outcome

    async def _retry(self, entry: Entry, outcome: Outcome) -> None:
        now, attempts = self.clock(), entry.attempts + 1
        log.warning(
            "webhook %s: %s (attempt %d): %s",
            entry.receiver,
            outcome.result,
            attempts,
            outcome.detail,
        )
        if attempts >= self.delivery.max_attempts:
            await self._give_up(entry, f"{attempts} attempts, last: {outcome.detail}")
        elif now - entry.created_at >= self.delivery.max_age_s:
            await self._give_up(
                entry, f"older than {self.delivery.max_age_s} s, last: {outcome.detail}"
            )
        else:
            wait = backoff_s(self.delivery, attempts, self.rng)
            await self._db(Outbox.mark_failed, entry.id, now, outcome.detail, now + wait)

    async def _give_up(self, entry: Entry, reason: str, count: bool = True) -> None:
        log.error(
            "webhook %s: notification %s kept as a dead letter: %s",
            entry.receiver,
            entry.notification.id,
            reason,
        )
        if count:
            self.counts[(entry.receiver, DROPPED)] += 1
        await self._db(Outbox.give_up, entry.id, self.clock(), reason)

    def wake(self) -> None:
        """Look at the outbox now (the engine calls this after committing a put); safe from
        any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Deliver until cancelled, a round at least every `poll_interval_s`."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self.run_once()
                except Exception:  # a locked or broken database: counted in logs, retried
                    log.exception("webhook sender round failed")
                with suppress(TimeoutError):
                    async with asyncio.timeout(self.delivery.poll_interval_s):
                        await self._wake.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the HTTP session and the database connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._outbox is not None:
            # Queued behind any call still running on the connection's thread.
            await self._on_db_thread(self._outbox.conn.close)
            self._outbox = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def families(self) -> list[Metric]:
        """The catalogue's notification counter and outbox gauge, from the last round."""
        sent = CounterMetricFamily(
            NOTIFICATIONS, self._help[NOTIFICATIONS], labels=["receiver", "result"]
        )
        for (receiver, result), value in sorted(self.counts.items()):
            sent.add_metric([receiver, result], value)
        pending = GaugeMetricFamily(PENDING, self._help[PENDING], labels=["receiver"])
        for receiver, value in sorted(self.pending.items()):
            pending.add_metric([receiver], value)
        return [sent, pending]
