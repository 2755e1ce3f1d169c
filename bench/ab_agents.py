"""Checkouts and agents of the base/head comparison: each ref checked out into a temporary
git worktree (removed at the end), and an agent started from it as users start one."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.proxy_procs import REPO, Server, free_port, start, stop

# Both agents read this one file: same settings, cost, store and safety on as by default.
CONFIG = "logging:\n  level: WARNING\n"


def _git(*args: str) -> str:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise ValueError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def resolve(ref: str) -> str:
    """The full commit hash of `ref`; ValueError naming the ref when git knows none."""
    return _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


@contextmanager
def worktree(commit: str, path: Path):
    """`commit` checked out (detached) at `path` for the duration; removed afterwards."""
    _git("worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield path
    finally:
        _git("worktree", "remove", "--force", str(path))


@contextmanager
def checkouts(commits: dict[str, str], tmp: Path):
    """A worktree per name (e.g. base, head) of its commit, under `tmp`: {name: path}."""
    with ExitStack() as stack:
        yield {n: stack.enter_context(worktree(c, tmp / n)) for n, c in commits.items()}


def start_agent(name: str, root: Path, upstream: str, tmp: Path) -> Server:
    """`python -m agent.cli up` run from checkout `root` (PYTHONPATH: its code wins over the
    installed package) in front of `upstream`, with the shared config and its own data folder."""
    config, data = tmp / "agent.yaml", Path(tempfile.mkdtemp(prefix=f"data-{name}-", dir=tmp))
    config.write_text(CONFIG)
    port = free_port()
    argv = ["-m", "agent.cli", "up", "--upstream", upstream, "--listen", f"127.0.0.1:{port}"]
    argv += ["--data-dir", str(data), "--config", str(config)]
    server = start(name, argv, port, "/health/live", {"PYTHONPATH": str(root)}, cwd=root)
    server.data_dir = str(data)  # removed by stop()
    return server


def show_log(server: Server, lines: int = 5) -> None:
    """The last lines an agent wrote to stderr (warnings and errors only: its log level),
    shown on ours, so that failed requests come with the agent's reason."""
    server.stderr.seek(0)
    tail = server.stderr.read().decode(errors="replace").splitlines()[-lines:]
    for line in tail:
        print(f"[{server.name} agent] {line[:300]}", file=sys.stderr)


@contextmanager
def agents(roots: dict[str, Path], upstream: str, tmp: Path):
    """An agent per checkout in front of `upstream`, stopped afterwards: {name: Server}."""
    started: dict[str, Server] = {}
    try:
        for name, root in roots.items():
            started[name] = start_agent(name, root, upstream, tmp)
        yield started
    finally:
        for server in started.values():
            show_log(server)
            stop(server)
