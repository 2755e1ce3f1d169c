"""`inferwatch up --config` with two bundled upstreams: the agent starts two real vLLM
servers (the tiny model twice, with different settings), splits the traffic between them,
logs each vLLM to its own file, and stops both on SIGTERM with nothing left behind."""

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
import yaml

from serving.vllm_args import free_port
from tests.vllm_server import START_TIMEOUT_S, post_json, tiny_model, wait_banner

pytestmark = [pytest.mark.vllm, pytest.mark.integration, pytest.mark.timeout(900)]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_both_up(base: str, timeout_s: float) -> dict:
    """/health until both bundled upstreams answer (the banner comes with the primary)."""
    deadline = time.monotonic() + timeout_s
    while True:
        _, body = _get(base + "/health")
        health = json.loads(body)
        states = {n: u["status"] for n, u in health.get("upstreams", {}).items()}
        if set(states.values()) == {"up"} or time.monotonic() > deadline:
            return states
        time.sleep(1)


def _served(base: str, want: int, timeout_s: float) -> dict[str, float]:
    """Requests counted per variant, once `want` are (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page = _get(base + "/metrics")[1].decode().splitlines()
        served = {
            v: sum(
                float(line.rsplit(" ", 1)[1])
                for line in page
                if line.startswith("inferwatch_experiment_requests_total{")
                and f'variant="{v}"' in line
            )
            for v in ("long", "short")
        }
        if sum(served.values()) >= want or time.monotonic() > deadline:
            return served
        time.sleep(0.5)


def test_up_with_two_bundled_upstreams_splits_between_two_real_vllms(tmp_path):
    port = free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "serving": {"model": str(tiny_model()), "served_model_name": "tiny", "kv_cache_gib": 1},
        "upstreams": [
            {"name": "long", "url": "bundled", "weight": 50, "serving": {"max_model_len": 2048}},
            {"name": "short", "url": "bundled", "weight": 50, "serving": {"max_model_len": 1024}},
        ],
        "experiments": [{"name": "ctx", "kind": "split", "control": "long", "variant": "short"}],
    }
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(config))
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "agent.cli", "up", "--config", str(path), "--data-dir", str(data)]
    err = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(cmd, stderr=err, stdout=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_banner(proc, START_TIMEOUT_S)
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        assert _wait_both_up(base, START_TIMEOUT_S) == {"long": "up", "short": "up"}
        for name, log in (("long", data / "vllm.log"), ("short", data / "vllm-short.log")):
            assert "Application startup complete" in log.read_text(), name
        for i in range(24):
            out = post_json(
                base + "/v1/completions", {"model": "tiny", "prompt": f"hi {i}", "max_tokens": 2}
            )
            assert out["usage"]["completion_tokens"] == 2
        served = _served(base, want=24, timeout_s=60)  # the metered arm's after its cost hold
        # 24 requests at 50/50: each server gets some (all on one: p = 2 * 0.5**24).
        assert served["long"] > 0 and served["short"] > 0 and sum(served.values()) == 24
        # The two really are two vLLMs with their own settings: each reports its own limit.
        family = psutil.Process(proc.pid).children(recursive=True)
        servers = [
            p for p in family if "vllm.entrypoints.openai.api_server" in " ".join(p.cmdline())
        ]
        lens = sorted(p.cmdline()[p.cmdline().index("--max-model-len") + 1] for p in servers)
        assert lens == ["1024", "2048"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        _, left = psutil.wait_procs(family, timeout=15)
        alive = [p.pid for p in left if p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"orphans left: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
