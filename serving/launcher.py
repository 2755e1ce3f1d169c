"""One vLLM server process: start it in its own process group, forward its log lines,
wait for readiness, and stop it (and every process it spawned) without leaving orphans."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from common.childproc import die_with_parent
from serving.vllm_args import Launch, merged_env


class VLLMDied(RuntimeError):
    """vLLM exited before it became ready."""


def _die_with_parent() -> None:
    # Runs in the child before exec: if the agent is killed outright, the kernel sends
    # SIGTERM to vLLM, whose shutdown then stops its engine processes.
    die_with_parent(signal.SIGTERM)


class VLLMProcess:
    """A started vLLM OpenAI server. `on_line` receives each output line (from a thread)."""

    def __init__(self, launch: Launch, on_line: Callable[[str], None]) -> None:
        self.launch = launch
        self.started_at = time.monotonic()
        # Its own session: the whole group (API server, engine core, workers) is signalled
        # together on stop, so nothing is left behind.
        self.proc = subprocess.Popen(
            launch.argv,
            env=merged_env(launch),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(
            target=self._forward, args=(on_line,), name="vllm-log", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        """The API server's process id (also its process group id)."""
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self.proc.poll()

    def _forward(self, on_line: Callable[[str], None]) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(Exception):  # a bad sink must not stop the draining
                on_line(raw.decode("utf-8", "replace").rstrip())

    def ready(self) -> bool:
        """One readiness check: GET /health answers 200."""
        try:
            with urllib.request.urlopen(self.launch.url + "/health", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_ready(self, timeout_s: float, on_tick: Callable[[float], None] | None = None) -> float:
        """Block until ready; returns seconds since start. Raises VLLMDied or TimeoutError."""
        deadline = self.started_at + timeout_s
        while True:
            code = self.returncode
            if code is not None:
                raise VLLMDied(f"vLLM exited with code {code} before it was ready")
            if self.ready():
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise TimeoutError(f"vLLM not ready after {timeout_s:g}s")
            if on_tick is not None:
                on_tick(time.monotonic() - self.started_at)
            time.sleep(0.5)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the whole group, SIGKILL what is left after `grace_s`. Idempotent."""
        if self.returncode is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s)
        # The API server may be gone while its engine processes linger: kill the group.
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the API server alone, as a crash would (tests use this)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
