"""Start and stop the benchmark's servers (upstream, floor, agent), each its own process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """One running server process and where to reach it."""

    name: str
    url: str
    proc: subprocess.Popen
    stderr: object  # temp file holding the server's stderr, shown if it fails
    data_dir: str | None = None  # an agent's own store folder, removed by stop()

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far."""
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss(self) -> int:
        return self.ps.memory_info().rss


def _wait_ready(server: Server, path: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            server.stderr.seek(0)
            raise RuntimeError(f"{server.name} exited early:\n{server.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout_s:g}s")


def start(
    name: str,
    argv: list[str],
    port: int,
    ready_path: str,
    env: dict | None = None,
    cwd=REPO,
    python: str = sys.executable,
) -> Server:
    """Run `argv` (args of `python`, by default this interpreter) in `cwd` and wait until
    `ready_path` answers 200."""
    err = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(
        [python, *argv],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    server = Server(name, f"http://127.0.0.1:{port}", proc, err)
    try:
        _wait_ready(server, ready_path)
    except BaseException:
        stop(server)
        raise
    return server


def pin(server: Server, cpus: set[int]) -> None:
    """Every thread of a server (and of its children) onto `cpus`: on Linux the affinity
    is a thread's, and a server has started its threads by the time it is ready."""
    for proc in [server.ps, *server.ps.children(recursive=True)]:
        for thread in proc.threads():
            os.sched_setaffinity(thread.id, cpus)


def stop(server: Server) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(5)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
    server.stderr.close()
    if server.data_dir:
        shutil.rmtree(server.data_dir, ignore_errors=True)


def start_agent(
    name: str,
    upstream: str,
    root: Path,
    extra_env: dict | None = None,
) -> Server:
    """`python -m agent.cli up` run from `root` (a checkout), quiet logs, on a free port."""
    port = free_port()
    argv = ["-m", "agent.cli", "up", "--upstream", upstream, "--listen", f"127.0.0.1:{port}"]
    # PYTHONPATH so that `root`'s agent package wins over any installed one. Each agent gets
    # a database of its own: agents run from one checkout must not share (and lock) one.
    data = tempfile.mkdtemp(prefix=f"inferwatch-bench-{name}-")
    env = {
        "INFERWATCH_LOGGING__LEVEL": "WARNING",
        "INFERWATCH_STORE__DIR": data,
        "PYTHONPATH": str(root),
        **(extra_env or {}),
    }
    try:
        server = start(name, argv, port, "/health/live", env, cwd=root)
    except BaseException:
        shutil.rmtree(data, ignore_errors=True)
        raise
    server.data_dir = data
    return server


def start_upstream() -> Server:
    """The instant upstream (bench/instant_upstream.py) on a free port."""
    port = free_port()
    return start(
        "upstream", [str(BENCH / "instant_upstream.py"), "--port", str(port)], port, "/health"
    )


def start_floor(upstream: str) -> Server:
    """The floor (bench/floor_proxy.py, a bare pass-through) in front of `upstream`."""
    port = free_port()
    argv = [str(BENCH / "floor_proxy.py"), "--upstream", upstream, "--port", str(port)]
    return start("floor", argv, port, "/health")


def start_all(
    candidate: Path | None = None, candidate_env: dict | None = None
) -> dict[str, Server]:
    """The instant upstream, the floor and the agent (and a candidate agent from another
    checkout), each on a free port. Stops all on failure."""
    servers: dict[str, Server] = {}
    try:
        up = servers["upstream"] = start_upstream()
        servers["floor"] = start_floor(up.url)
        servers["agent"] = start_agent("agent", up.url, REPO)
        if candidate is not None:
            servers["candidate"] = start_agent("candidate", up.url, candidate, candidate_env)
    except BaseException:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: dict[str, Server]) -> None:
    """Stop every server started."""
    for server in reversed(list(servers.values())):
        stop(server)
