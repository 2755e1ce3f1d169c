"""Start and stop `noida-db`, an emulator of the Elasticsearch API (no real Elasticsearch can
be installed on these machines), on a free port in a temporary folder.

    with EsEmulator(tmp_path) as es: ...      # or the `es_emulator` fixture
    emu = EsEmulator(tmp_path, port); emu.start(); emu.stop(); emu.start()  # outages

The emulator reports version 8.15 and is accepted by the official 9.x client. It has no
lifecycle (ILM) or data-stream APIs: it answers them 400 "no handler found".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from importlib.resources import files
from pathlib import Path

import pytest

_READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> str:
    # The `noida-db` console script runs this binary as a child; running it directly
    # lets us stop the server itself (and only it).
    path = files("noida_db").joinpath("noida-db")
    os.chmod(str(path), 0o755)
    return str(path)


class EsEmulator:
    """One noida-db process serving only the Elasticsearch API on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen | None = None

    def start(self) -> EsEmulator:
        """Start it and wait until it answers `GET /`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            _binary(),
            "start",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(self.port),
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(self.data_dir),
        ]
        log = open(self.data_dir / "emulator.log", "ab")  # noqa: SIM115 - closed with the process
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"emulator exited: see {self.data_dir / 'emulator.log'}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url, timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("emulator did not answer in time")

    def stop(self) -> None:
        """Stop it (its data stays in `data_dir`)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10)

    def __enter__(self) -> EsEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def es_emulator(tmp_path):
    """A running emulator, stopped after the test."""
    with EsEmulator(tmp_path / "es") as emu:
        yield emu
