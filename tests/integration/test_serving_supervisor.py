"""The supervisor and launcher, driven with a stand-in vLLM: starts a small Python HTTP
server process that also starts a grandchild, like vLLM's engine process. The real vLLM is
in tests/integration/vllm."""

from __future__ import annotations

import asyncio
import sys

import psutil
import pytest
from prometheus_client import CollectorRegistry, Counter

from agent.config import UpstreamConfig
from agent.upstream import Upstream
from serving.config import ServingConfig
from serving.supervisor import Supervisor
from serving.vllm_args import Launch, free_port

pytestmark = pytest.mark.integration

STAND_IN = r"""
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # the 'engine'
if sys.argv[2] == "fail":
    sys.exit(3)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        print("request", self.path, flush=True)
print("stand-in up", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _launch(tmp_path, mode: str = "ok") -> Launch:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    port = free_port()
    argv = (sys.executable, str(script), str(port), mode)
    return Launch(argv, {}, "stand-in", f"http://127.0.0.1:{port}")


def _supervisor(launch: Launch):
    cfg = ServingConfig(restart_backoff_s=0.1, restart_backoff_max_s=0.4, stop_grace_s=5)
    registry = CollectorRegistry()
    counter = Counter("restarts", "test", registry=registry)
    lines: list[str] = []
    sup = Supervisor(cfg, launch, Upstream(UpstreamConfig(), launch.url), counter, lines.append)
    return sup, registry, lines


async def _ready(sup: Supervisor, timeout_s: float = 60) -> None:
    await asyncio.wait_for(sup.ready_event.wait(), timeout_s)


def _family(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def _alive(procs) -> list[int]:
    # A SIGKILLed process takes a moment to vanish: give the kernel up to 5 s.
    _, alive = psutil.wait_procs(procs, timeout=5)
    return [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]


async def test_gate_refuses_with_503_until_ready_then_lets_requests_through(tmp_path):
    sup, _, lines = _supervisor(_launch(tmp_path))
    sup.upstream.state.starting = True  # as before start: nothing is served yet
    assert sup.upstream.state.starting
    await sup.start()
    try:
        await _ready(sup)
        assert not sup.upstream.state.starting and sup.upstream.state.up is True
        assert "stand-in up" in lines
    finally:
        await sup.stop()


async def test_dead_server_is_restarted_counted_and_gated_meanwhile(tmp_path):
    sup, registry, _ = _supervisor(_launch(tmp_path))
    await sup.start()
    try:
        await _ready(sup)
        first = _family(sup.process.pid)
        sup.ready_event.clear()
        sup.process.kill()
        while not sup.upstream.state.starting:  # the supervisor notices within its poll interval
            await asyncio.sleep(0.05)
        await _ready(sup)
        assert registry.get_sample_value("restarts_total") == 1 and sup.restart_count == 1
        assert _alive(first) == [], "the dead server's engine was left behind"
    finally:
        await sup.stop()


async def test_stop_leaves_no_process_behind(tmp_path):
    sup, _, _ = _supervisor(_launch(tmp_path))
    await sup.start()
    await _ready(sup)
    family = _family(sup.process.pid)
    assert len(family) >= 2
    await sup.stop()
    assert _alive(family) == []


async def test_server_that_fails_to_start_is_retried_with_backoff(tmp_path):
    sup, registry, _ = _supervisor(_launch(tmp_path, "fail"))
    await sup.start()
    try:
        while sup.restart_count < 3:
            await asyncio.sleep(0.1)
        assert sup.upstream.state.starting
        assert (
            sup.upstream.state.up is False and "exited with code 3" in sup.upstream.state.last_error
        )
    finally:
        await sup.stop()
    assert registry.get_sample_value("restarts_total") >= 3


STAND_IN_ARGS = r"""
import http.server, sys
print("non-default args:", {"api_key": [sys.argv[3]], "port": int(sys.argv[1])}, flush=True)
if sys.argv[2] == "fail":
    print("fatal: cannot load the model", flush=True)
    sys.exit(3)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
print("stand-in up", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _launch_with_key(tmp_path, mode: str) -> Launch:
    script = tmp_path / "stand_in_args.py"
    script.write_text(STAND_IN_ARGS)
    port = free_port()
    argv = (sys.executable, str(script), str(port), mode, "--api-key", "sk-vllm-key-77")
    return Launch(argv, {}, "stand-in", f"http://127.0.0.1:{port}")


async def test_output_goes_to_its_own_file_masked_and_argv_is_logged_masked(tmp_path, caplog):
    from serving.vllm_log import VllmLog

    caplog.set_level("INFO")
    (tmp_path / "vllm.log").write_text("the previous run\n")
    output = VllmLog(tmp_path / "vllm.log", ["sk-vllm-key-77"])
    cfg = ServingConfig(stop_grace_s=5)
    launch = _launch_with_key(tmp_path, "ok")
    sup = Supervisor(cfg, launch, Upstream(UpstreamConfig(), launch.url), output=output)
    await sup.start()
    try:
        await _ready(sup)
    finally:
        await sup.stop()
    text = (tmp_path / "vllm.log").read_text()
    assert "stand-in up" in text and "'api_key': ['********']" in text
    assert (tmp_path / "vllm.log.1").read_text() == "the previous run\n"  # rotated at start
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "stand-in up" not in logged  # not in the agent's log
    assert "--api-key ********" in logged and str(tmp_path / "vllm.log") in logged
    assert "sk-vllm-key-77" not in text + logged


async def test_a_vllm_that_fails_to_start_is_explained_with_its_last_lines(tmp_path, caplog):
    from serving.vllm_log import VllmLog

    output = VllmLog(tmp_path / "vllm.log", ["sk-vllm-key-77"])
    cfg = ServingConfig(restart_backoff_s=5, stop_grace_s=5)
    launch = _launch_with_key(tmp_path, "fail")
    sup = Supervisor(cfg, launch, Upstream(UpstreamConfig(), launch.url), output=output)
    await sup.start()
    try:
        while sup.restart_count < 1:
            await asyncio.sleep(0.1)
    finally:
        await sup.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    said = next(e for e in errors if e.startswith("vLLM did not become ready"))
    assert "fatal: cannot load the model" in said and str(tmp_path / "vllm.log") in said
    assert "sk-vllm-key-77" not in "\n".join(errors)
