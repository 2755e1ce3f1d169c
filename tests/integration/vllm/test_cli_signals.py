"""`inferwatch up --model DIR` as a user runs it: vLLM starts behind the agent, a request
goes through, and SIGINT/SIGTERM stop everything with no process left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest

from serving.vllm_args import free_port
from tests.vllm_server import START_TIMEOUT_S, tiny_model

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]


def _wait_banner(proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("  health "):  # the banner's last address line
            return "".join(seen)
        if time.monotonic() > deadline:
            break
    raise AssertionError("no ready banner:\n" + "".join(seen[-40:]))


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_up_serves_then_signal_stops_everything(sig, tmp_path):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "agent.cli",
        "up",
        "--model",
        str(tiny_model()),
        "--served-model-name",
        "tiny",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        banner = _wait_banner(proc, START_TIMEOUT_S)
        # Keep draining its stderr: a full pipe would block the agent's logging.
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        assert f"http://127.0.0.1:{port}/metrics" in banner
        out = _post(
            f"http://127.0.0.1:{port}/v1/completions",
            {"model": "tiny", "prompt": "hello", "max_tokens": 4},
        )
        assert out["usage"]["completion_tokens"] == 4
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any(
            "EngineCore" in " ".join(p.cmdline()) or p.name().startswith("VLLM") for p in family
        )
        proc.send_signal(sig)
        assert proc.wait(timeout=90) == 0
        time.sleep(1)
        alive = [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"orphans left: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
