"""A real Prometheus (Debian's `prometheus`) on a free loopback port, for one test."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiohttp

from tests.conftest import free_port


async def scrape_until(
    tmp_path: Path, scrape_config: str, query: str, timeout: float = 60
) -> tuple[list, dict]:
    """Run Prometheus with `scrape_config` (one YAML flow-style entry of scrape_configs)
    until `query` returns data; returns (the query's result, the one active target)."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: install the Debian package prometheus"
    (tmp_path / "prometheus.yml").write_text(
        f"global: {{scrape_interval: 1s}}\nscrape_configs: [{scrape_config}]\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as s:
            while True:
                try:
                    async with s.get(base + "/query", params={"query": query}) as r:
                        result = (await r.json())["data"]["result"]
                except aiohttp.ClientError:
                    result = []
                if result:
                    break
                await asyncio.sleep(0.5)
            async with s.get(base + "/targets") as r:
                [target] = (await r.json())["data"]["activeTargets"]
    finally:
        proc.terminate()
        proc.wait(10)
    return result, target
