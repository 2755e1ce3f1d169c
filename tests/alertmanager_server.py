"""A real Alertmanager (Debian's `prometheus-alertmanager`) and a real Prometheus that
evaluates rules and sends to it, each on a free loopback port, for one test."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import yaml

from tests.conftest import free_port

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def _binary(*names: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    raise AssertionError(f"{names[0]} missing: install the Debian package of that name")


async def _ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until `url` answers 200; fail at once if the process died (a bad config)."""
    async with asyncio.timeout(timeout), aiohttp.ClientSession() as s:
        while True:
            assert proc.poll() is None, f"{proc.args[0]} exited with {proc.returncode}"
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _process(args: list[str], ready_url: str, log: Path) -> AsyncIterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        await _ready(ready_url, proc, timeout=30)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def alertmanager(tmp_path: Path, config: dict) -> AsyncIterator[str]:
    """Run Alertmanager with `config` (its YAML as a dict); yields its base URL.
    Clustering is off (no gossip port), as for a single instance; its external URL (the
    payloads' `externalURL`) is the loopback address, not the host's name."""
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    args = [
        _binary(*ALERTMANAGER_BINARIES),
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--web.external-url=http://127.0.0.1:{port}/",
    ]
    url = f"http://127.0.0.1:{port}"
    async with _process(args, url + "/-/ready", tmp_path / "alertmanager.log"):
        yield url


@contextlib.asynccontextmanager
async def prometheus(tmp_path: Path, config: dict) -> AsyncIterator[str]:
    """Run Prometheus with `config` (prometheus.yml as a dict; rule_files paths absolute);
    yields its base URL (also its external URL: the alerts' generatorURL)."""
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = [
        _binary("prometheus"),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}/",
    ]
    url = f"http://127.0.0.1:{port}"
    async with _process(args, url + "/-/ready", tmp_path / "prometheus.log"):
        yield url
