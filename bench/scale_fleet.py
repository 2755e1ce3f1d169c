"""The central systems of the scale-out simulation and how to start them: one real
Prometheus (Debian's package) scraping every agent through a file_sd target list, one
Elasticsearch-API emulator (noida-db, not Elasticsearch) behind a byte-counting relay,
and agents as their own processes (`python -m agent.cli up`), each with its own store,
stand-in GPUs (tests/nvml_stub) and shipping to the relay."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.proxy_procs import Server, free_port, start_agent, stop
from tests.nvml_stub.stub import build, write_script

JOB = "inferwatch"


@dataclass
class Prometheus:
    """A Prometheus process scraping the targets listed in `targets_file`."""

    url: str
    proc: subprocess.Popen
    data: Path
    targets_file: Path

    def set_targets(self, urls: list[str]) -> None:
        """Replace the scraped agents (file_sd: Prometheus picks the change up itself)."""
        hosts = [u.removeprefix("http://") for u in urls]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": hosts, "labels": {}}]))
        tmp.replace(self.targets_file)  # atomic: Prometheus never reads half a file

    def rss(self) -> int:
        """Resident memory of the Prometheus process, in bytes."""
        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> None:
        """SIGTERM and wait."""
        self.proc.terminate()
        self.proc.wait(20)


def start_prometheus(root: Path, scrape_s: float, block_s: int) -> Prometheus:
    """Prometheus on a free port; head blocks cut every `block_s` seconds (a hidden flag,
    2 h by default) so a compacted block, and its bytes per sample, exist within minutes."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is missing: apt-get install prometheus")
    root.mkdir(parents=True, exist_ok=True)
    targets = root / "targets.json"
    targets.write_text("[]")
    cfg = {
        "global": {"scrape_interval": f"{scrape_s:g}s", "scrape_timeout": f"{scrape_s:g}s"},
        "scrape_configs": [
            {"job_name": JOB, "file_sd_configs": [{"files": [str(targets)]}]},
        ],
    }
    (root / "prometheus.yml").write_text(json.dumps(cfg))
    port = free_port()
    block = f"{block_s}s"
    argv = [
        binary,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.min-block-duration={block}",
        f"--storage.tsdb.max-block-duration={block}",
    ]
    log = open(root / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, stdout=log, stderr=log)
    log.close()
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, root / "data", targets)
    _wait_http(prom.url + "/-/ready", proc)
    return prom


def _wait_http(url: str, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited (code {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s:g} s")


@dataclass
class AgentFleet:
    """The agents started so far; each one's env says where it ships and what GPUs it sees."""

    upstream: str
    es_url: str
    gpus: int
    root: Path
    agents: list[Server] = field(default_factory=list)

    def env(self, index: int) -> dict:
        """Settings of agent `index`, as INFERWATCH_* variables."""
        lib = build(self.root / "nvml")
        script = write_script(self.root / f"gpus-{index}.txt", self.gpus)
        return {
            "NVML_STUB_CONFIG": str(script),
            "INFERWATCH_COLLECTORS__NVML_LIBRARY": str(lib),
            "INFERWATCH_COLLECTORS__HOSTNAME": f"node-{index:03d}",
            "INFERWATCH_ELASTICSEARCH__URL": self.es_url,
            "INFERWATCH_LOGGING__LEVEL": "WARNING",
        }

    def grow(self, n: int) -> list[Server]:
        """Start agents until there are `n`; returns the new ones."""
        new = []
        while len(self.agents) < n:
            i = len(self.agents)
            agent = start_agent(f"agent{i}", self.upstream, _repo(), self.env(i))
            self.agents.append(agent)
            new.append(agent)
        return new

    def stop(self) -> None:
        """Stop every agent (their stores are removed)."""
        for a in self.agents:
            stop(a)


def _repo() -> Path:
    return Path(__file__).resolve().parents[1]
