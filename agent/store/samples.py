"""Periodic snapshots of the agent's GPU, vLLM, host and cost metrics in the store, so the
dashboard can draw them over time without a Prometheus.

Every `store.snapshot_interval_s` a background thread (its own SQLite connection, never
the event loop) reads the chosen families (`FAMILIES`, by catalogue name) and writes one
row into `samples`: (at, data), data a JSON object {series id: value}. Each series (name
and labels) is written once into `sample_series`, so a snapshot of 8 GPUs is about 1 KB.
Snapshots older than `store.retention.max_age_days` are deleted on the same thread. A
failure is logged and counted (`Sampler.failures`), never raised: the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable

import orjson
from prometheus_client.metrics_core import Metric

from agent.store.config import StoreConfig
from agent.store.schema import connect

log = logging.getLogger("inferwatch.store.samples")

# What the GPUs and vLLM page and the cost page draw (catalogue names, counters with _total).
FAMILIES = frozenset(
    {
        "hw_gpu_utilization_ratio",
        "hw_gpu_memory_usage_bytes",
        "hw_gpu_memory_limit_bytes",
        "hw_gpu_power_draw_watts",
        "hw_gpu_temperature_celsius",
        "hw_gpu_energy_consumed_joules_total",
        "hw_errors_total",
        "inferwatch_gpu_clock_event_reason",
        "inferwatch_gpu_up",
        "inferwatch_vllm_requests_running",
        "inferwatch_vllm_requests_waiting",
        "inferwatch_vllm_kv_cache_usage_ratio",
        "inferwatch_vllm_preemptions_total",
        "inferwatch_vllm_prompt_tokens_total",
        "inferwatch_vllm_generation_tokens_total",
        "inferwatch_cost_idle_total",
        "inferwatch_cost_metered_total",
        "inferwatch_cost_device_utilization_ratio",
        "system_cpu_utilization_ratio",
        "system_memory_usage_bytes",
        "system_memory_limit_bytes",
    }
)
# The cost engine's families live among the agent's own instruments, not the collectors'.
_INSTRUMENTS = tuple(n for n in sorted(FAMILIES) if n.startswith("inferwatch_cost_"))

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sample_series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "labels TEXT NOT NULL, UNIQUE (name, labels))",
    "CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, at REAL NOT NULL, "
    "data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS samples_at ON samples (at)",
)

Source = Callable[[], Iterable[Metric]]


def labels_key(labels: dict[str, str]) -> str:
    """The canonical text of a label set (JSON, keys sorted), as `sample_series.labels`."""
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


def select(families: Iterable[Metric]) -> dict[tuple[str, str], float]:
    """The finite samples of `FAMILIES` in `families`, by (name, labels_key)."""
    return {
        (s.name, labels_key(s.labels)): float(s.value)
        for fam in families
        for s in fam.samples
        if s.name in FAMILIES and math.isfinite(s.value)
    }


class SampleWriter:
    """Writes snapshots into one database (one connection; use it from one thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids: dict[tuple[str, str], int] = {}
        for statement in SCHEMA:
            conn.execute(statement)

    def write(self, at: float, values: dict[tuple[str, str], float]) -> None:
        """Store one snapshot taken at `at` (epoch seconds), in one transaction."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            data = {str(self._series_id(key)): v for key, v in values.items()}
            self._conn.execute(
                "INSERT INTO samples (at, data) VALUES (?, ?)", (at, orjson.dumps(data).decode())
            )
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._ids.clear()  # ids inserted in the rolled-back transaction are gone
            raise

    def _series_id(self, key: tuple[str, str]) -> int:
        sid = self._ids.get(key)
        if sid is None:
            self._conn.execute(
                "INSERT OR IGNORE INTO sample_series (name, labels) VALUES (?, ?)", key
            )
            sql = "SELECT id FROM sample_series WHERE name = ? AND labels = ?"
            sid = self._ids[key] = self._conn.execute(sql, key).fetchone()[0]
        return sid

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def prune(self, older_than: float) -> int:
        """Delete the snapshots taken before `older_than`; returns how many."""
        return self._conn.execute("DELETE FROM samples WHERE at < ?", (older_than,)).rowcount


class Sampler:
    """A daemon thread writing a snapshot of `source()` every `config.snapshot_interval_s`
    into the store at `config.path`, and pruning old ones every
    `config.retention.check_interval_s`."""

    def __init__(
        self, config: StoreConfig, source: Source, failed: Callable[[], object] | None = None
    ) -> None:
        self._config = config
        self._source = source
        self._failed = failed  # counts a failure where Prometheus sees it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: SampleWriter | None = None
        self._pruned_at = 0.0
        self._failing = False
        self.written = 0
        self.failures = 0

    def start(self) -> None:
        """Start the thread (the store's database must exist: start it after the writer)."""
        self._thread = threading.Thread(target=self._run, name="store-samples", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close its connection (blocks up to `timeout_s`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self._config.snapshot_interval_s):
            self.once()
        if self._writer is not None:
            self._writer.close()

    def once(self, now: float | None = None) -> bool:
        """Take and store one snapshot (and prune when due); False when it failed (logged)."""
        now = time.time() if now is None else now
        try:
            if self._writer is None:
                conn = connect(str(self._config.path), self._config.busy_timeout_ms)
                self._writer = SampleWriter(conn)
            self._writer.write(now, select(_read(self._source)))
            self.written += 1
            self._failing = False
            if now - self._pruned_at >= self._config.retention.check_interval_s:
                self._writer.prune(now - self._config.retention.max_age_days * 86400)
                self._pruned_at = now
            return True
        except Exception as err:
            self.failures += 1
            if self._failed is not None:
                self._failed()
            # Once per run of failures: a locked or full disk would otherwise log every tick.
            level = logging.DEBUG if self._failing else logging.WARNING
            log.log(level, "metric snapshot not stored", extra={"error": repr(err)})
            self._failing = True
            return False


def _read(source: Source, tries: int = 3) -> list[Metric]:
    # The agent's own instruments are updated on the event loop without locks; reading them
    # here can meet a series being added ("dictionary changed size"): read again.
    for attempt in range(tries):
        try:
            return list(source())
        except RuntimeError:
            if attempt == tries - 1:
                raise
    return []


def agent_source(agent) -> Source:
    """The families `FAMILIES` names, from the agent's collectors and cost instruments."""

    def read() -> Iterable[Metric]:
        runner = getattr(agent, "collectors", None)
        if runner is not None:
            yield from runner.collect()
        for name in _INSTRUMENTS:
            instrument = agent.instruments.get(name)
            if instrument is not None:
                yield from instrument.collect()

    return read


def attach_samples(agent, settings) -> Sampler | None:
    """Run a `Sampler` of `agent` from its startup to its cleanup (after the store's
    writer has opened the database). None when the store or snapshots are off."""
    c = settings.store
    if not c.enabled or c.snapshot_interval_s <= 0:
        return None
    failures = agent.instruments["inferwatch_store_snapshot_failures_total"]
    sampler = Sampler(c, agent_source(agent), failures.inc)

    async def start(_agent) -> None:
        sampler.start()

    async def stop(_agent) -> None:
        await asyncio.to_thread(sampler.stop)

    agent.on_startup.append(start)
    agent.on_cleanup.append(stop)
    return sampler
