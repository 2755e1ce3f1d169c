"""`inferwatch up --model DIR` as a user runs it: vLLM starts behind the agent, a request
goes through, and SIGINT/SIGTERM stop everything with no process left behind. The agent's
terminal shows its own lines and the banner; vLLM's output is in its own file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import psutil
import pytest

from serving.vllm_args import free_port
from tests.vllm_server import START_TIMEOUT_S, post_json, tiny_model, wait_banner

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.timeout(900)]


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
        "--data-dir",
        str(tmp_path / "data"),
    ]
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(cmd, stderr=err, stdout=subprocess.PIPE, text=True)
    try:
        banner = wait_banner(proc, START_TIMEOUT_S)
        # Keep draining its stdout: a full pipe would block the agent.
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        assert f"http://127.0.0.1:{port}/metrics" in banner
        vllm_log = tmp_path / "data" / "vllm.log"
        assert f"vLLM output  {vllm_log}" in banner
        assert "Application startup complete" in vllm_log.read_text()  # uvicorn, in vLLM
        out = post_json(
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
        _, left = psutil.wait_procs(family, timeout=10)  # killed processes take a moment
        alive = [p.pid for p in left if p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"orphans left: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    logged = [json.loads(line) for line in (tmp_path / "stderr.txt").read_text().splitlines()]
    assert not [x for x in logged if x["log.level"] == "WARNING"], "warnings while vLLM started"
    assert not [x for x in logged if x["log.logger"] == "inferwatch.vllm"]
