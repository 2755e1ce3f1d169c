"""The processes and the interleaved rounds of the shadow benchmark: two paced stand-in
upstreams (control and candidate), an agent per configuration in front of them (same
upstreams; only the experiment differs), and rounds that send each target a batch in turn."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench import ab_load
from bench.proxy_procs import BENCH, REPO, Server, free_port, start, stop
from bench.shadow_stats import DIRECT, Batch

SETTLE_S = 0.3  # after a batch: the copies it launched finish before the next batch starts
SHADOW_METRIC = "inferwatch_experiment_shadow_requests_total"


def experiment(config: str, max_in_flight: int) -> list[dict]:
    """The `experiments:` of a configuration: none (`off`, `off2`: a second baseline agent,
    the noise floor) or a shadow of every request to the candidate (`after`, `parallel`)."""
    if config.startswith("off"):
        return []
    shadow = {"fraction": 1.0, "mode": config, "max_in_flight": max_in_flight}
    exp = {"name": "shadow-bench", "kind": "shadow", "control": "control"}
    return [{**exp, "variant": "candidate", "shadow": shadow}]


def agent_config(control: str, candidate: str, config: str, max_in_flight: int) -> dict:
    """An agent's whole config file (JSON is YAML): both upstreams, the experiment if any;
    everything else as by default (store, cost and safety on)."""
    return {
        "logging": {"level": "WARNING"},
        "upstreams": [
            {"name": "control", "url": control, "weight": 100},
            {"name": "candidate", "url": candidate, "weight": 0},
        ],
        "experiments": experiment(config, max_in_flight),
    }


def start_upstream(name: str, ttft_ms: float, itl_ms: float) -> Server:
    """bench/paced_upstream.py in its own process, on a free port."""
    port = free_port()
    argv = [str(BENCH / "paced_upstream.py"), "--port", str(port)]
    return start(name, [*argv, "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms)], port, "/health")


def start_agent(config: str, cfg: dict, tmp: Path) -> Server:
    """`python -m agent.cli up --config FILE` from this checkout, with its own data folder."""
    path, data = tmp / f"{config}.yaml", tempfile.mkdtemp(prefix=f"data-{config}-", dir=tmp)
    path.write_bytes(orjson.dumps(cfg))
    port = free_port()
    argv = ["-m", "agent.cli", "up", "--listen", f"127.0.0.1:{port}", "--config", str(path)]
    server = start(
        config, [*argv, "--data-dir", data], port, "/health/live", {"PYTHONPATH": str(REPO)}
    )
    server.data_dir = data  # removed by stop()
    return server


@contextmanager
def servers(configs: list[str], ttft_ms: float, itl_ms: float, max_in_flight: int):
    """Both upstreams and an agent per configuration, all stopped afterwards:
    ({target: base URL}, {config: agent Server})."""
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="shadow-bench-") as tmp:

        def kept(server: Server) -> Server:
            stack.callback(stop, server)
            return server

        control = kept(start_upstream("control", ttft_ms, itl_ms))
        candidate = kept(start_upstream("candidate", ttft_ms, itl_ms))
        agents = {}
        for c in configs:
            cfg = agent_config(control.url, candidate.url, c, max_in_flight)
            agents[c] = kept(start_agent(c, cfg, Path(tmp)))
        yield {DIRECT: control.url, **{c: a.url for c, a in agents.items()}}, agents


def order(targets: list[str], r: int) -> list[str]:
    """Round r's order: direct first, then the agents rotated by r, so that each takes each
    slot equally often over a multiple of their number of rounds."""
    agents = [t for t in targets if t != DIRECT]
    k = r % len(agents)
    return [t for t in targets if t == DIRECT] + agents[k:] + agents[:k]


@dataclass
class Load:
    """What one scenario sends: the request body, requests per batch, concurrency."""

    label: str
    body: bytes
    requests: int
    concurrency: int


async def _batch(session, url: str, load: Load, agent: Server | None) -> Batch:
    cpu0, t0 = agent.cpu_s() if agent else 0.0, time.perf_counter()
    got = await ab_load.run_mixed(session, {"t": url}, load.body, load.requests, load.concurrency)
    samples, errors = got["t"]
    b = Batch(errors=errors, elapsed_s=time.perf_counter() - t0)
    await asyncio.sleep(SETTLE_S)  # copies still running are charged to this batch
    b.total_ms = [s.total_ns / 1e6 for s in samples]
    b.ttfc_ms = [s.ttfc_ns / 1e6 for s in samples]
    b.overhead_ms = [s.overhead_ms for s in samples if s.overhead_ms is not None]
    if agent is not None:
        b.cpu_ms = 1e3 * (agent.cpu_s() - cpu0) / load.requests
    if not samples:
        raise RuntimeError(f"{load.label} {url}: every request failed: {errors[0]}")
    return b


async def run_rounds(
    urls: dict[str, str], agents: dict[str, Server], load: Load, rounds: int, tick: Callable
) -> tuple[list[dict[str, Batch]], list[float]]:
    """A warm-up round (discarded), then `rounds` kept ones, each target's batch in turn.
    Returns the kept rounds and the 1-minute load average seen after each batch."""
    kept, loadavg = [], []
    timeout = aiohttp.ClientTimeout(total=300)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for r in range(rounds + 1):
            got = {}
            for t in order(list(urls), r):
                got[t] = await _batch(session, urls[t], load, agents.get(t))
                loadavg.append(os.getloadavg()[0])
                tick(f"{load.label} {'warm-up' if r == 0 else f'round {r}'} {t}")
            if r:
                kept.append({t: got[t] for t in urls})
    return kept, loadavg


def shadow_outcomes(agent: Server) -> dict[str, int]:
    """The agent's shadow copies by outcome (ok, error, skipped, cancelled), from /metrics."""
    import urllib.request

    with urllib.request.urlopen(agent.url + "/metrics", timeout=10) as resp:
        page = resp.read().decode()
    out: dict[str, int] = {}
    for fam in text_string_to_metric_families(page):
        for s in fam.samples:
            if s.name == SHADOW_METRIC:
                out[s.labels["outcome"]] = out.get(s.labels["outcome"], 0) + int(s.value)
    return out
