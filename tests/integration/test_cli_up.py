"""`inferwatch up` as a real process: serves, logs JSON lines, stops cleanly on SIGTERM."""

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
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


# ---- the first ten minutes: checks before starting, one clear line per failure -----------


def _env(tmp_path, **extra) -> dict:
    return {**os.environ, "INFERWATCH_STORE__DIR": str(tmp_path / "data"), **extra}


async def _start_up(*args, env, stdout=asyncio.subprocess.DEVNULL):
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "agent.cli",
        *args,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _stop(proc) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        rc = await proc.wait()
    return rc, (await proc.stderr.read()).decode()


def _fake_model(tmp_path):
    """A folder that passes the bundled mode's model check (vLLM could not load it)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return str(model)


def _run(*args, env, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _held(data) -> list[tuple]:
    """The records the store's `held` table keeps (those the cost engine holds)."""
    db = sqlite3.connect(data / "requests.sqlite3")
    try:
        return db.execute("SELECT * FROM held ORDER BY request_id").fetchall()
    finally:
        db.close()


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


async def test_second_up_on_a_busy_data_folder_says_so_and_starts_nothing(fake_upstream, tmp_path):
    env = _env(tmp_path)
    port = free_port()
    first = await _start_up(
        "up", "--upstream", fake_upstream.url, "--listen", f"127.0.0.1:{port}", env=env
    )
    try:
        await wait_listening(f"http://127.0.0.1:{port}", first)
        data = tmp_path / "data"
        before = _held(data)
        # The second one would be the bundled mode: it must not get as far as vLLM.
        second = await asyncio.to_thread(
            _run,
            "up",
            "--listen",
            f"127.0.0.1:{free_port()}",
            env={**env, "INFERWATCH_SERVING__MODEL": _fake_model(tmp_path)},
        )
        line = _one_line(second.stderr)
        assert second.returncode == 1
        assert f"data folder {data} is in use" in line and f"pid {first.pid}" in line
        assert not (data / "vllm.log").exists() and second.stdout == ""
        assert _held(data) == before  # what the first agent holds is untouched
        assert first.returncode is None  # the first agent is unharmed
    finally:
        rc, _ = await _stop(first)
    assert rc == 0


def test_busy_port_is_one_line_and_vllm_is_never_started(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = _env(tmp_path, INFERWATCH_SERVING__MODEL=_fake_model(tmp_path))
        proc = _run("up", "--listen", f"127.0.0.1:{port}", env=env)
    line = _one_line(proc.stderr)
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in line
    assert not (tmp_path / "data" / "vllm.log").exists()


def test_a_stall_watch_file_it_cannot_open_is_a_clear_error_and_status_1(tmp_path):
    bad = tmp_path / "missing" / "stalls.jsonl"
    env = _env(tmp_path, INFERWATCH_STALL_WATCH=str(bad), INFERWATCH_LOGGING__LEVEL="ERROR")
    proc = _run("up", "--upstream", "http://127.0.0.1:9", "--listen", "127.0.0.1:0", env=env)
    assert proc.returncode == 1
    assert f"inferwatch: stall watch: [Errno 2] No such file or directory: '{bad}'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_demo_traffic_at_a_dead_url_is_one_line(tmp_path):
    proc = _run("demo-traffic", "--url", f"http://127.0.0.1:{free_port()}", env=_env(tmp_path))
    assert proc.returncode == 1
    assert "connection refused" in _one_line(proc.stderr)


async def test_text_logs_on_request_and_the_banner_in_upstream_mode(fake_upstream, tmp_path):
    port = free_port()
    env = _env(tmp_path, INFERWATCH_LOGGING__FORMAT="text")
    proc = await _start_up(
        "up",
        "--upstream",
        fake_upstream.url,
        "--listen",
        f"127.0.0.1:{port}",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await wait_listening(f"http://127.0.0.1:{port}", proc)
    finally:
        rc, err = await _stop(proc)
    out = (await proc.stdout.read()).decode()
    assert rc == 0
    assert f"agent listening listen=http://127.0.0.1:{port} upstream={fake_upstream.url}" in err
    assert not any(line.startswith("{") for line in err.splitlines())
    assert "inferwatch is ready" in out and f"http://127.0.0.1:{port}/metrics" in out
    assert str(tmp_path / "data" / "requests.sqlite3") in out


# ---- secrets never reach the logs or `config show` --------------------------------------

SECRETS_YAML = """
tenants: {{api_keys: {{acme: sk-tenant-key-1}}}}
elasticsearch: {{url: "http://elastic:esPass2@127.0.0.1:{dead}"}}
otel:
  endpoint: "http://otel:otelPass3@127.0.0.1:{dead}/v1/traces"
  headers: {{x-api-key: hdrSecret4}}
serving: {{extra_args: [--api-key, vllmKey5, --hf-token=hfTok6]}}
"""
SECRETS = ("sk-tenant-key-1", "esPass2", "otelPass3", "hdrSecret4", "vllmKey5", "hfTok6")
CLIENT_KEYS = ("sk-client-raw-7", "sk-client-raw-8")


async def _raw(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read(1000)
    writer.close()
    return answer


async def test_secret_scan_of_logs_and_config_show(fake_upstream, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(SECRETS_YAML.format(dead=free_port()))
    port = free_port()
    env = _env(tmp_path, INFERWATCH_LOGGING__LEVEL="DEBUG")
    args = ["--upstream", fake_upstream.url, "--listen", f"127.0.0.1:{port}"]
    proc = await _start_up(
        "up", *args, "--config", str(config), env=env, stdout=asyncio.subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_listening(url, proc)
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        for key in ("sk-tenant-key-1", "sk-client-raw-7"):
            await post(url + "/v1/chat/completions", body, {"authorization": f"Bearer {key}"})
        # A malformed Authorization line: aiohttp's parser rejects it and logs the raw bytes.
        answer = await _raw(
            port, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-client-raw-8\x01\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
        await asyncio.sleep(1.5)  # the shipper and span exporter try the dead endpoints meanwhile
    finally:
        rc, err = await _stop(proc)
    out = (await proc.stdout.read()).decode()
    assert rc == 0
    assert "Error handling request" in err  # the parse error was logged: masked, not dropped
    shown = _run("config", "show", "--config", str(config), env=env)
    assert shown.returncode == 0, shown.stderr
    files = "".join(p.read_text(errors="replace") for p in (tmp_path / "data").glob("*.log*"))
    for place, text in {
        "logs": err,
        "stdout": out,
        "config show": shown.stdout,
        "files": files,
    }.items():
        leaked = [s for s in (*SECRETS, *CLIENT_KEYS) if s in text]
        assert leaked == [], f"{place} shows {leaked}"


def test_an_unusable_data_folder_is_one_line_and_status_3(tmp_path):
    """A container whose data volume is missing or read-only: here a file where the folder
    should be (root can write anywhere, so a read-only mode would not stop this test)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = _env(tmp_path)
    proc = _run("up", "--upstream", "http://127.0.0.1:9", "--data-dir", str(blocker), env=env)
    line = _one_line(proc.stderr)
    assert proc.returncode == 3
    assert f"cannot use data folder {blocker}" in line and "mount a volume there" in line
