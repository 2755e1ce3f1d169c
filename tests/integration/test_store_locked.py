"""The proxy keeps serving while another process holds the store's write lock: the
failures are logged and counted, records wait in memory, and land once the lock goes."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from tests.es_helpers import send_load, start_upstream
from tests.store_records import until

pytestmark = pytest.mark.integration


async def test_requests_are_served_and_kept_while_the_database_is_locked(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    up_runner, upstream = await start_upstream()
    store = {"dir": str(tmp_path), "busy_timeout_ms": 50}
    agent = Agent(load_settings(overrides={"store": store}), upstream)
    runner = await serve(agent, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    locker = sqlite3.connect(tmp_path / "requests.sqlite3", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        ids = await send_load(base, 50, concurrency=4)
        assert len(ids) == 50  # every request answered
        # The records' write failing, not just any write (the first retention pass may
        # meet the lock too, and count a locked error before any record was tried).
        await until(lambda: any("store write failed" in r.message for r in caplog.records))
        assert _metric(agent, "inferwatch_store_write_errors_total", error_type="locked") > 0
        assert _metric(agent, "inferwatch_store_records_pending") > 0
        locker.execute("COMMIT")
        await until(lambda: _metric(agent, "inferwatch_store_records_written_total") == 50)
        stored = {r[0] for r in locker.execute("SELECT request_id FROM requests")}
        assert stored == set(ids)
    finally:
        locker.close()
        await runner.cleanup()
        await up_runner.cleanup()


def _metric(agent: Agent, name: str, **labels) -> float:
    return agent.registry.get_sample_value(name, labels) or 0.0
