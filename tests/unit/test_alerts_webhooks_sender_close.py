"""The sender's connection is closed only after a call still running on it ends (a task
cancelled at shutdown leaves its SQLite call running on the thread: closing beside it
crashed the process with a segmentation fault in CI)."""

from __future__ import annotations

import asyncio
import time

import pytest

from alerts.config import AlertsConfig
from alerts.webhooks.outbox import Outbox
from alerts.webhooks.sender import Sender

pytestmark = pytest.mark.unit


async def test_close_waits_for_the_call_a_cancelled_task_left_running(tmp_path):
    sender = Sender(AlertsConfig(webhooks=[{"name": "ops", "url": "http://a/"}]), tmp_path / "x")
    started, outcome = asyncio.Event(), []
    loop = asyncio.get_running_loop()

    def slow(outbox: Outbox) -> None:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.3)  # still running when its task is cancelled and close is called
        try:
            outbox.conn.execute("SELECT count(*) FROM webhook_outbox").fetchone()
            outcome.append("ran on an open connection")
        except Exception as err:  # the connection closed under it
            outcome.append(f"{type(err).__name__}: {err}")

    task = asyncio.create_task(sender._db(slow))  # noqa: SLF001  the call a round makes
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await sender.close()
    assert outcome == ["ran on an open connection"]
