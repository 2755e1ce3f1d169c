"""The store's single writer: a thread that commits queued records in batches.

The event loop only appends to a list under a lock. The thread waits up to one flush
interval after the first record arrives (or not at all when a caller waits for the
commit), then writes everything pending in one transaction. When the database cannot be
written (disk full, locked by another process) the records stay in memory, up to a
bound, and the failure is logged and counted; beyond the bound records are counted as
dropped. Other writes (outbox marks, retention) run on the same thread, so there is one
writer and SQLite never sees two of ours competing for the lock.

With `early` on (a cost engine holds records for seconds before they reach the pipeline),
`put_early` queues each record the moment its request ends and it is appended to the
early-write journal (see `journal`); the costed version that later comes through `put` is
inserted as a final row and leaves the journal. Journal records without a row (a killed
agent held them) are inserted as cost-lost at start and, periodically, once their request
ended more than `pending_timeout_s` ago. (Rows left pending by an agent older than the
journal are finalised as cost-lost at start.)

With `writer_priority: idle` the thread runs in Linux's SCHED_IDLE class (see `priority`):
the event loop raises it to normal when a record has waited two flush intervals or a
caller waits on it, and it lowers itself again once nothing is left.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError

from agent.gil import in_slices
from agent.record import RequestRecord
from agent.store import files, pending, priority, rejects, retention, rollups, rollups_sql, schema
from agent.store.config import StoreConfig
from agent.store.journal import Journal
from agent.store.rows import to_row
from agent.store.stats import StoreStats

log = logging.getLogger("inferwatch.store")

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.05, 2.0
_RETENTION_CATCH_UP_S = 0.5
_DISK_LOG_EVERY_S = 60.0
# Whether a journal record was already dealt with: its row is stored (request ids are the
# agent's own and unique) or it was refused into `rejects`. Through the request id indexes.
HAS_ROW_SQL = (
    "SELECT 1 FROM requests WHERE request_id = ?1 "
    "UNION ALL SELECT 1 FROM rejects WHERE request_id = ?1 LIMIT 1"
)
Entry = tuple[RequestRecord, bool]  # (record, final): final False for an early write


def _settle(fut: Future, result: object = None, error: BaseException | None = None) -> None:
    # A caller may have given up (its asyncio task was cancelled): the write still counts.
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)


def error_kind(err: sqlite3.Error | OSError) -> str:
    """A bounded label for a SQLite (or journal file) failure: locked, disk_full, io,
    readonly or other."""
    if isinstance(err, OSError):
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        return "disk_full" if full else "readonly" if err.errno == errno.EROFS else "io"
    name = getattr(err, "sqlite_errorname", "") or ""
    for prefix, kind in (("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked")):
        if name.startswith(prefix):
            return kind
    kinds = {"SQLITE_FULL": "disk_full", "SQLITE_READONLY": "readonly", "SQLITE_CANTOPEN": "io"}
    return kinds.get(name, "io" if name.startswith("SQLITE_IOERR") else "other")


class StoreWriter:
    """Owns the write connection and the thread that uses it."""

    def __init__(
        self,
        config: StoreConfig,
        stats: StoreStats,
        keep_unshipped: bool,
        early: bool = False,
        rollups: bool = True,
    ) -> None:
        """`rollups` False skips the dashboard's rollups (only to measure what they cost:
        bench/store_write.py; the rollups of a store written so miss its rows)."""
        self._c = config
        self._rollups = rollups
        self._stats = stats
        self._keep_unshipped = keep_unshipped
        self._early = early
        self._journal = Journal(config.dir, config.fsync) if early else None
        # Sync mode commits at once (no batching interval): early writes included.
        self._eager = config.durability == "sync"
        self._seq = 0  # the last `ship_seq` given (the writer thread owns it)
        self._next_stale = 0.0
        self._cond = threading.Condition()
        self._records: list[Entry] = []
        self._bytes = 0  # approx_bytes of `_records`: count alone does not bound memory
        self._waiters: list[tuple[int, Future]] = []  # (records still to commit, future)
        self._ops: list[tuple[Callable, Future]] = []
        # Arrival of the oldest record not yet taken into a batch (None: none waits). A batch
        # under way does not count: records that come while it is written start their own
        # flush interval. (With the arrival of the first record ever queued instead, every
        # batch after the first under steady load was written at once: ~75 small commits a
        # second at c1 instead of 20.)
        self._first_at: float | None = None
        self._taken_at: float | None = None  # `_first_at` of the batch being written
        self._stopping = False
        self._failures = 0
        self._next_retention = 0.0
        self._last_drop_log = 0.0
        self._logged_rejects: set[str] = set()
        self._last_disk_log = -math.inf
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._tid = 0  # the writer thread's kernel id, for its scheduling class
        self._may_idle = False  # decided at start: configured, batch mode, and reversible
        self._idle = False  # the thread is in SCHED_IDLE now (changed under the lock)
        self._boost_after = 2 * config.flush_interval_s
        stats.set_pending(lambda: len(self._records))

    # ---- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Open (creating and migrating) the database and start the thread. Blocking."""
        files.private_dir(self._c.dir)
        files.private_database(self._c.path)
        self._conn = schema.connect(str(self._c.path), self._c.busy_timeout_ms, self._c.fsync)
        schema.migrate(self._conn)
        self._seq = pending.last_seq(self._conn)
        # Rows pending now (written by an agent older than the journal) and journal records
        # without a row were held by the cost engine of an agent that died: this one has
        # written none yet, so no cost can come for them. (One agent per database.)
        try:
            self._finalise_stale(None, "restart")
            if self._journal is not None:
                self._recover_journal()
        except (sqlite3.Error, OSError) as err:  # e.g. locked by another process: the journal
            self._rollback()  # files stay, for the next start
            self._stats.write_error(error_kind(err))
            log.error("store could not finalise rows left pending", extra={"error": str(err)})
        self._next_retention = time.monotonic()  # first pass right away
        # Only journal records can go stale (a cost engine holds records): else no pass at all.
        self._next_stale = (
            time.monotonic() + self._stale_every_s() if self._journal is not None else math.inf
        )
        # Sync mode: every request waits on a commit, so the writer is never in the background.
        self._may_idle = (
            self._c.writer_priority == "idle" and not self._eager and priority.can_leave_idle()
        )
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Commit what is pending (one last try), stop the thread, close the connection."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
        if self._journal is not None:
            self._journal.close()
        if self._records:
            log.error("store closed with records not written", extra={"count": len(self._records)})

    # ---- called from the event loop (never blocks on I/O) ---------------------------

    @property
    def failing(self) -> bool:
        """True while the last write failed (records wait in memory)."""
        return self._failures > 0

    def put(self, batch: Sequence[RequestRecord], wait: bool = False) -> tuple[int, Future | None]:
        """Queue records; returns (accepted, future resolved with True once committed or
        False when the write failed and the records wait in memory). Future only if `wait`."""
        with self._cond:
            room = max(0, self._c.max_pending_records - len(self._records))
            accepted = self._fit(batch if len(batch) <= room else batch[:room])
            was = len(self._records)
            if self._first_at is None and accepted:
                self._first_at = time.monotonic()
            self._records.extend((r, True) for r in accepted)
            fut: Future | None = None
            # While writes fail nobody waits: the pipeline must keep moving (records are held).
            if wait and accepted and not self._failures:
                fut = Future()
                self._waiters.append((len(self._records), fut))
            # As put_early: wake the thread only when it has something new to do (a first
            # record starts its flush interval, a full batch or a waiter ends it); each
            # wake-up takes the GIL from the event loop.
            if not was or fut is not None or self._eager or len(self._records) >= self._c.max_batch:
                self._cond.notify()
            if self._idle and (fut is not None or self._late()):
                self._boost()
        if len(accepted) < len(batch):
            self._dropped(len(batch) - len(accepted))
        return len(accepted), fut

    def put_early(self, record: RequestRecord) -> None:
        """Queue a record as its request ends, before its cost is known (O(1), no I/O).
        At the memory bound it is skipped: its final version is inserted when it comes."""
        with self._cond:
            if len(self._records) >= self._c.max_pending_records or not self._fit((record,)):
                return
            if self._first_at is None:
                self._first_at = time.monotonic()
            self._records.append((record, False))
            # Wake the thread only when it has something to do now: it sleeps out the flush
            # interval on its own, and a wake-up per request would cost the loop GIL time.
            if self._eager or len(self._records) in (1, self._c.max_batch):
                self._cond.notify()
            if self._idle and self._late():
                self._boost()

    def submit(self, op: Callable[[sqlite3.Connection], object]) -> Future:
        """Run `op(conn)` on the writer thread (it manages its own transaction)."""
        fut: Future = Future()
        with self._cond:
            self._ops.append((op, fut))
            self._cond.notify()
            if self._idle:
                self._boost()
        return fut

    def flush(self) -> Future:
        """A future resolved once everything queued so far has been tried (True when
        committed, False when the write failed and the records wait in memory)."""
        fut: Future = Future()
        with self._cond:
            if self._records:
                self._waiters.append((len(self._records), fut))
            else:
                self._ops.append((lambda conn: True, fut))
            self._cond.notify()
            if self._idle:
                self._boost()
        return fut

    def _late(self) -> bool:
        # The oldest record has waited past its flush: the idle writer is starved of CPU.
        # A batch under way counts: a writer starved in the middle of one is the case.
        first = self._taken_at if self._taken_at is not None else self._first_at
        return first is not None and time.monotonic() - first > self._boost_after

    def _boost(self) -> None:
        """Raise the idle writer thread to normal priority (under the lock)."""
        if not priority.set_idle(self._tid, False):  # refused after all (the probe said
            self._may_idle = False  # yes): logged once; stop trying, never lower it again
        self._idle = False

    def _dropped(self, n: int) -> None:
        self._stats.dropped("memory_bound", n)
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            self._last_drop_log = now
            log.error(
                "store memory bound reached; records dropped",
                extra={"dropped": n, "max_pending_records": self._c.max_pending_records},
            )

    # ---- the thread -----------------------------------------------------------------

    def _run(self) -> None:
        self._tid = threading.get_native_id()
        self._lower()
        while True:
            try:
                if self._cycle():
                    return
            except Exception:  # a bug must not end the writer: the agent keeps serving
                log.exception("store writer failed; going on")
                self._rollback()  # never leave a transaction open: the next BEGIN would fail
                self._stats.write_error("other")
                self._failures += 1
                self._backoff()

    def _cycle(self) -> bool:
        """One round: wait, write a batch, run other writes. True when the thread should end."""
        with self._cond:
            self._wait_for_work()
            if self._stopping and not self._records and not self._ops:
                return True
            batch, ops = self._take()
        ok = self._write(batch) if batch else True
        self._run_ops(ops)
        self._maybe_retention()
        self._maybe_finalise_stale()
        self._lower()
        if not ok:
            self._backoff()
        # When stopping, one last try that failed ends it: close() reports the loss.
        return self._stopping and not ok

    def _take(self) -> tuple[list[Entry], list[tuple[Callable, Future]]]:
        """The next batch and the queued operations (under the lock)."""
        batch = self._records[: self._c.max_batch]
        self._taken_at = self._first_at
        if len(batch) == len(self._records):  # all taken: the next record starts anew
            self._first_at = None
        ops, self._ops = self._ops, []
        return batch, ops

    def _lower(self) -> None:
        """Back to SCHED_IDLE once caught up (nothing late, nobody waiting)."""
        if not self._may_idle or self._idle:
            return
        with self._cond:
            if not (self._late() or self._waiters or self._ops or self._stopping):
                self._idle = priority.set_idle(self._tid, True)

    def _wait_for_work(self) -> None:
        while not (self._records or self._ops or self._stopping):
            self._cond.wait(self._housekeeping_due_in())
            if self._housekeeping_due_in() <= 0:
                return
        # Hold records back for up to one interval to batch them, unless someone waits.
        while self._records and not (self._ops or self._waiters or self._stopping or self._eager):
            left = (self._first_at or 0.0) + self._c.flush_interval_s - time.monotonic()
            if left <= 0 or len(self._records) >= self._c.max_batch:
                return
            self._cond.wait(left)

    def _housekeeping_due_in(self) -> float:
        return max(0.0, min(self._next_retention, self._next_stale) - time.monotonic())

    def _write(self, batch: list[Entry], isolate: bool = False) -> bool:
        """One transaction for the batch. When a record's values are refused (see
        `rejects`), the batch is written again with `isolate`: record by record, the
        refused ones kept in `rejects`. Only that failure pays for it."""
        conn, seq = self._conn, self._seq
        refused: list[rejects.Reject] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            finals = self._apply(conn, batch, refused if isolate else None)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, *rejects.RECORD_ERRORS) as err:  # OSError: the journal
            self._seq = seq  # nothing of this batch was committed: give its numbers again
            self._rollback()
            if not isolate and isinstance(err, rejects.RECORD_ERRORS):
                return self._write(batch, isolate=True)
            self._write_failed(err, len(batch))
            return False
        if self._journal is not None and finals:
            self._journal.done(finals)  # their rows are committed (or refused): out of it
        self._rejected(refused)  # before `_committed` settles the waiters
        self._committed(len(batch), len(finals) - len(refused))
        return True

    def _apply(
        self, conn: sqlite3.Connection, batch: list[Entry], refused: list | None = None
    ) -> list[RequestRecord]:
        """Journal early records, insert final ones; returns the final records. With
        `refused` (a list), rows go in one by one and the records refused are added to it
        (and to the `rejects` table)."""
        finals = [record for record, final in batch if final]
        # Pauses for the GIL only at SCHED_IDLE, where the thread can be preempted while it
        # holds it. Raised to normal, it is behind or someone waits for a commit: a sleep
        # every 8 records (~70 us with the kernel's timer slack) would cost ~15% of its
        # throughput (bench/store_write.py).
        paced = self._idle
        if self._journal is not None:
            done = {r.span_id for r in finals}  # early and final in one batch: the row only
            early = [r for r, final in batch if not final and r.span_id not in done]
            if refused is not None:  # written again: the failed try journalled them already
                early = [r for r in early if r.span_id not in self._journal]
            self._journal.append(early, paced)
        if refused is not None:
            refused += self._insert_each(conn, finals, schema.COST_FINAL)
            return finals
        seq = self._next_seq
        rows = [
            to_row(r, schema.COST_FINAL, seq()) for r in (in_slices(finals) if paced else finals)
        ]
        conn.executemany(schema.INSERT_SQL, rows)
        self._roll_up(conn, finals)
        return finals

    def _roll_up(self, conn: sqlite3.Connection, inserted: list[RequestRecord]) -> None:
        """Add the rows just inserted to the rollups (in their transaction)."""
        if self._rollups and inserted:
            delta = rollups.aggregate(map(rollups.fact_of_record, inserted))
            rollups_sql.write(conn, delta)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _insert_each(
        self, conn: sqlite3.Connection, records: list[RequestRecord], cost_status: str
    ) -> list[rejects.Reject]:
        """Insert rows one statement each (a refused statement leaves the transaction
        open in SQLite); keep the refused records in `rejects`. Returns those."""
        refused, inserted = [], []
        for r in records:
            try:
                conn.execute(schema.INSERT_SQL, to_row(r, cost_status, self._seq + 1))
            except rejects.RECORD_ERRORS as err:
                refused.append(rejects.Reject.of(r, err))
            else:
                self._seq += 1
                inserted.append(r)
        self._roll_up(conn, inserted)
        if refused:
            rejects.insert(conn, refused)
        return refused

    def _rejected(self, refused: list[rejects.Reject]) -> None:
        for r in refused:
            self._stats.rejected(r.reason)
            if r.reason not in self._logged_rejects:  # once per kind: a flood must not
                self._logged_rejects.add(r.reason)  # flood the log too
                log.error(
                    "store refused a record; kept in the rejects table",
                    extra={"reason": r.reason, "error": r.error, "request_id": r.request_id},
                )

    def _fit(self, batch: Sequence[RequestRecord]) -> Sequence[RequestRecord]:
        """The first records of `batch` that fit under `max_pending_bytes` (counted in)."""
        limit, total = self._c.max_pending_bytes, self._bytes
        for i, r in enumerate(batch):
            total += r.approx_bytes()
            if total > limit:
                self._bytes = total - r.approx_bytes()
                return batch[:i]
        self._bytes = total
        return batch

    def _committed(self, n: int, inserted: int) -> None:
        with self._cond:
            self._bytes -= sum(r.approx_bytes() for r, _ in self._records[:n])
            del self._records[:n]
            self._taken_at = None
            self._failures = 0
            done = [f for left, f in self._waiters if left <= n]
            self._waiters = [(left - n, f) for left, f in self._waiters if left > n]
        self._stats.written(inserted)
        for f in done:
            _settle(f, True)

    def _write_failed(self, err: sqlite3.Error, n: int) -> None:
        kind = error_kind(err)
        self._stats.write_error(kind)
        self._failures += 1
        log.error(
            "store write failed; records kept in memory",
            extra={"error_type": kind, "error": str(err), "records": n, "attempt": self._failures},
        )
        with self._cond:
            self._first_at, self._taken_at = self._taken_at, None  # the oldest again
            waiters, self._waiters = self._waiters, []
            # Waiters are released (the records are still held): the pipeline must move on.
            for _, f in waiters:
                _settle(f, False)

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("store rollback failed")

    def _run_ops(self, ops: list[tuple[Callable, Future]]) -> None:
        for op, fut in ops:
            try:
                result = op(self._conn)
            except sqlite3.Error as err:
                self._rollback()
                self._stats.write_error(error_kind(err))
                _settle(fut, error=err)
            except Exception as err:  # a bug in an op must not kill the writer
                self._rollback()
                log.exception("store operation failed")
                _settle(fut, error=err)
            else:
                _settle(fut, result)

    def _maybe_retention(self) -> None:
        if time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + self._c.retention.check_interval_s
        disk = (self._c.max_disk_bytes, self._disk_bytes)
        try:
            deleted = retention.apply(
                self._conn, self._c.retention, self._keep_unshipped, disk=disk
            )
        except (sqlite3.Error, OSError) as err:
            self._rollback()
            self._stats.write_error(error_kind(err))
            log.error("store retention failed", extra={"error": str(err)})
            return
        self._stats.retention(
            deleted.by_age, deleted.by_size, deleted.by_disk, deleted.unshipped_by_disk
        )
        if deleted.by_disk and time.monotonic() - self._last_disk_log >= _DISK_LOG_EVERY_S:
            self._last_disk_log = time.monotonic()
            log.warning(
                "store at its disk bound; oldest rows deleted",
                extra={
                    "deleted": deleted.by_disk,
                    "unshipped": deleted.unshipped_by_disk,
                    "max_disk_bytes": self._c.max_disk_bytes,
                },
            )
        if deleted.more:  # more to delete: come back soon, between batches of records
            self._next_retention = time.monotonic() + _RETENTION_CATCH_UP_S

    def _disk_bytes(self) -> int:
        """Bytes of the store's files but the database (whose pages in use retention
        counts): its -wal and -shm, the journal."""
        db = self._c.path
        paths = [db.with_name(db.name + s) for s in files.SQLITE_SUFFIXES[1:]]
        if self._journal is not None:
            paths += self._journal.files()
        total = 0
        for p in paths:
            with contextlib.suppress(FileNotFoundError):  # -wal/-shm come and go
                total += p.stat().st_size
        return total

    def _stale_every_s(self) -> float:
        return min(10.0, self._c.pending_timeout_s / 4)

    def _maybe_finalise_stale(self) -> None:
        if time.monotonic() < self._next_stale or self._journal is None:
            return
        self._next_stale = time.monotonic() + self._stale_every_s()
        try:
            stale = self._journal.older_than(time.time() - self._c.pending_timeout_s)
            self._insert_lost(stale, "timeout")
        except sqlite3.Error as err:
            self._rollback()
            self._stats.write_error(error_kind(err))
            log.error("store could not finalise stale pending rows", extra={"error": str(err)})

    def _finalise_stale(self, ended_before: float | None, reason: str) -> None:
        """Mark rows pending since before `ended_before` (all with None) as cost-lost."""
        n = pending.finalise_lost(self._conn, ended_before, self._seq)
        if n:
            self._seq += n
            self._stats.cost_lost(reason, n)
            log.warning(
                "store rows finalised without their cost",
                extra={"rows": n, "reason": reason},
            )

    def _recover_journal(self) -> None:
        """Insert journal records an earlier run left without a row as cost-lost, then
        delete its segments."""
        found = self._journal.recover()  # type: ignore[union-attr]
        lost = [r for r in found if not self._has_row(r)]
        self._insert_lost(lost, "restart")
        self._journal.clear()  # type: ignore[union-attr]

    def _has_row(self, r: RequestRecord) -> bool:
        try:
            return self._conn.execute(HAS_ROW_SQL, (r.request_id,)).fetchone() is not None
        except rejects.RECORD_ERRORS:  # an id SQLite cannot bind: its insert is refused
            return False

    def _insert_lost(self, records: list[RequestRecord], reason: str) -> None:
        """Insert records whose cost never came as cost-lost rows (its own transaction);
        records refused go to `rejects` (see `_write`)."""
        if not records:
            return
        conn, seq = self._conn, self._seq
        refused: list[rejects.Reject] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                rows = [to_row(r, schema.COST_LOST, self._next_seq()) for r in records]
                conn.executemany(schema.INSERT_SQL, rows)
                self._roll_up(conn, records)
            except rejects.RECORD_ERRORS:  # again, record by record
                self._seq = seq
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                refused = self._insert_each(conn, records, schema.COST_LOST)
            conn.execute("COMMIT")
        except BaseException:
            self._seq = seq
            self._rollback()
            raise
        if self._journal is not None:
            self._journal.done(records)
        self._rejected(refused)
        if len(records) > len(refused):
            self._stats.cost_lost(reason, len(records) - len(refused))
            log.warning(
                "store rows finalised without their cost",
                extra={"rows": len(records) - len(refused), "reason": reason},
            )

    def _backoff(self) -> None:
        delay = min(_BACKOFF_MAX_S, _BACKOFF_MIN_S * 2 ** min(self._failures, 10))
        with self._cond:
            if not self._stopping:
                self._cond.wait(delay)
