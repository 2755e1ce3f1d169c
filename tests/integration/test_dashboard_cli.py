"""`inferwatch dashboard` and `inferwatch up --dashboard` as real processes: the Streamlit
server starts where it says, refuses a taken port or a bad address in one line, warns
when it listens beyond loopback, and `up --dashboard` stops its dashboard with it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import psutil
import pytest

from tests.conftest import free_port
from tests.http import get

pytestmark = pytest.mark.integration


async def _start(*args: str, env: dict | None = None):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def _healthy(url: str, proc, timeout: float = 60) -> None:
    """Wait until Streamlit answers its health check (fails if the process exits)."""
    async with asyncio.timeout(timeout):
        while True:
            assert proc.returncode is None, "the process exited early"
            try:
                status, _, body = await get(url + "/_stcore/health")
                if status == 200 and body == b"ok":
                    return
            except OSError:
                pass
            await asyncio.sleep(0.2)


async def _stop(proc) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(20):
        return await proc.wait()


async def test_dashboard_serves_the_app_on_loopback_and_says_where(tmp_path):
    port = free_port()
    proc = await _start("dashboard", "--data-dir", str(tmp_path), "--listen", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert first.strip() == f"dashboard: {url} (reads the store in {tmp_path})"
        await _healthy(url, proc)
        status, _, page = await get(url + "/")
        assert status == 200 and b"<title>Streamlit</title>" in page
        # It leaves the CPU to the agent beside it (dashboard.idle_priority, the default).
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    finally:
        await _stop(proc)


async def test_dashboard_at_normal_priority_when_configured(tmp_path):
    port = free_port()
    proc = await _start(
        "dashboard",
        "--data-dir",
        str(tmp_path),
        "--listen",
        f"127.0.0.1:{port}",
        env={"INFERWATCH_DASHBOARD__IDLE_PRIORITY": "false"},
    )
    try:
        await _healthy(f"http://127.0.0.1:{port}", proc)
        assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER
    finally:
        await _stop(proc)


async def test_dashboard_refuses_a_taken_port_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await _start("dashboard", "--data-dir", str(tmp_path), "--listen", f":{port}")
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert err.decode().strip() == (
        f"inferwatch: cannot listen on 127.0.0.1:{port}: the port is already in use "
        "(another inferwatch or server runs there); stop it or choose another with "
        "--listen HOST:PORT"
    )
    assert out == b""


async def test_dashboard_refuses_a_bad_listen_address_with_status_2(tmp_path):
    proc = await _start("dashboard", "--data-dir", str(tmp_path), "--listen", "nowhere")
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "--listen: expected HOST:PORT, got 'nowhere'" in err.decode()


async def test_dashboard_warns_when_it_listens_beyond_loopback(tmp_path):
    port = free_port()
    proc = await _start("dashboard", "--data-dir", str(tmp_path), "--listen", f"0.0.0.0:{port}")
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert "listens on 0.0.0.0" in line and "has no login" in line
    finally:
        await _stop(proc)


async def test_up_with_dashboard_starts_it_prints_its_url_and_stops_it(fake_upstream, tmp_path):
    agent_port, dash_port = free_port(), free_port()
    proc = await _start(
        "up",
        "--upstream",
        fake_upstream.url,
        "--listen",
        f"127.0.0.1:{agent_port}",
        "--dashboard",
        env={"INFERWATCH_STORE__DIR": str(tmp_path), "INFERWATCH_DASHBOARD__PORT": str(dash_port)},
    )
    dash = f"http://127.0.0.1:{dash_port}"
    try:
        banner = ""
        async with asyncio.timeout(60):
            while "\n  dashboard " not in banner:
                banner += (await proc.stdout.readline()).decode()
        assert f"  dashboard    {dash} (reads the store in {tmp_path})\n" in banner
        await _healthy(dash, proc)
        (child,) = psutil.Process(proc.pid).children()
        assert os.sched_getscheduler(child.pid) == os.SCHED_IDLE
        assert os.sched_getscheduler(proc.pid) == os.SCHED_OTHER  # the agent itself is not
    finally:
        assert await _stop(proc) == 0
    # The agent's exit took its dashboard with it: nothing answers there any more.
    with pytest.raises(OSError):
        await get(dash + "/_stcore/health")
    assert (tmp_path / "dashboard.log").is_file()


async def test_up_without_dashboard_prints_the_command_to_start_one(fake_upstream, tmp_path):
    port = free_port()
    proc = await _start(
        "up",
        "--upstream",
        fake_upstream.url,
        "--listen",
        f"127.0.0.1:{port}",
        env={"INFERWATCH_STORE__DIR": str(tmp_path)},
    )
    try:
        banner = ""
        async with asyncio.timeout(60):
            while "\n  dashboard " not in banner:
                banner += (await proc.stdout.readline()).decode()
        assert f"inferwatch dashboard --data-dir {tmp_path}" in banner
    finally:
        await _stop(proc)
