"""`inferwatch up` as a real process: serves, logs JSON lines, stops cleanly on SIGTERM."""

import asyncio
import json
import os
import signal
import sys

import pytest

from tests.conftest import free_port
from tests.http import get, post

pytestmark = pytest.mark.integration


async def wait_listening(url: str, proc, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            assert proc.returncode is None, "agent exited early"
            try:
                status, _, _ = await get(url + "/health/live")
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)


async def test_up_serves_logs_json_and_stops_on_sigterm(fake_upstream, tmp_path):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        "up",
        "--upstream",
        fake_upstream.url,
        "--listen",
        f"127.0.0.1:{port}",
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "INFERWATCH_LOGGING__LEVEL": "INFO",
            "INFERWATCH_STORE__DIR": str(tmp_path),
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_listening(url, proc)
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        status, headers, _ = await post(url + "/v1/chat/completions", body)
        assert status == 200 and headers["x-request-id"]
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            rc = await proc.wait()
    assert rc == 0
    lines = [json.loads(line) for line in (await proc.stderr.read()).decode().splitlines() if line]
    messages = [line["message"] for line in lines]
    assert "agent listening" in messages and "shutting down" in messages
    assert all("@timestamp" in line and "log.level" in line for line in lines)
