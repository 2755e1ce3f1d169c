"""One soak run (see soak.py for the command line): the Elasticsearch-API emulator, the
scripted upstream (tests/fake_upstream.py, in this process), the agent with every feature
on (store, cost, safety, shipping, detectors), a refreshing dashboard (soak_dashboard.py),
and here an open-loop client sending the scale-out simulation's traffic mix
(bench/scale_traffic.request) while a sampler reads the agent every few seconds. At the
end the traffic stops, the agent drains, and every record is counted in the store and in
the emulator."""

from __future__ import annotations

import asyncio
import gc
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from agent.stallwatch import StallWatch
from bench import scale_measure as m
from bench import soak_stalls
from bench.proxy_procs import BENCH, REPO, Server, free_port, start, stop
from bench.scale_traffic import Mix, request
from bench.soak_stalls import SLOW_MS, Slow, Stalls
from tests.conftest import start_app
from tests.es_emulator import EsEmulator
from tests.fake_upstream import FakeUpstream

PATTERN = "logs-inferwatch-*"
STORE_FILE = "requests.sqlite3"
# Gauges of what waits inside the agent, summed as its backlog.
BACKLOG = (
    "inferwatch_records_queued",  # in memory, before the sinks
    "inferwatch_cost_records_held",  # waiting for their interval to be metered
    "inferwatch_store_records_pending",  # in memory, before the store commits them
    "inferwatch_shipper_backlog_records",  # in the store, not yet in Elasticsearch
)


@dataclass
class Sample:
    """One reading of the agent, `t` seconds into the traffic."""

    t: float
    rss: int
    fds: int
    wal: int  # bytes of the store's -wal file
    p99_ms: float  # of the requests answered since the previous sample
    answered: int  # cumulative
    backlog: dict[str, float]
    cpu_s: float  # the agent's, cumulative


@dataclass
class Soak:
    """What the run saw: samples, every answer's (end time, latency), the final counts."""

    samples: list[Sample] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (t, ms)
    sent: int = 0
    answered: int = 0  # any HTTP status: each one is a record the agent must keep
    failed: int = 0  # no HTTP answer (connection error): no record expected
    in_store: int = 0
    in_es: int = 0
    drain_s: float = float("nan")
    refreshes: list[float] = field(default_factory=list)  # dashboard refresh seconds
    traffic_s: float = 0.0
    stalls: Stalls = field(default_factory=Stalls)


def agent_config(upstream: str, es: str, args) -> dict:
    """Every feature on: store (default), cost (default), safety (default), shipping to the
    emulator, detectors and the alert engine every `alerts_interval_s`."""
    return {
        "logging": {"level": "WARNING"},
        "upstream": {"url": upstream},
        "elasticsearch": {"url": es},
        "alerts": {"enabled": True, "interval_s": args.alerts_interval_s},
    }


async def run(args, root: Path) -> Soak:
    """Start everything under `root`, drive and sample, drain, count, stop everything."""
    soak = Soak()
    out = open(root / soak_stalls.BENCH_FILE, "a", encoding="utf-8")  # noqa: SIM115
    watch = StallWatch(out, args.stall_ms / 1e3)
    watch.start(asyncio.get_running_loop())
    es = EsEmulator(root / "es")
    await asyncio.to_thread(es.start)
    upstream = FakeUpstream()
    runner, up_url = await start_app(upstream.app)
    agent = dash = None
    try:
        agent = _start_agent(agent_config(up_url, es.url, args), root, args.stall_ms)
        store = Path(agent.data_dir) / STORE_FILE
        dash = _start_dashboard(store, args.dashboard_interval_s, root / "dashboard.txt")
        settle_heap()
        await _traffic(args, soak, agent, store, upstream)
        await _drain(args, soak, store, es.url)
        await asyncio.to_thread(soak_stalls.agent_figures, store, soak.stalls.slow)
    finally:
        watch.stop()
        if dash is not None:
            dash.terminate()
            dash.wait(10)
        if agent is not None:
            stop(agent)
        await runner.cleanup()
        es.stop()
    _read_stalls(soak, root, args.stall_dir)
    soak.refreshes = [
        float(x.split()[1]) for x in (root / "dashboard.txt").read_text().split("\n") if x
    ]
    return soak


def settle_heap() -> None:
    """Move what this process built before the traffic (its imports: the test helpers, the
    app of the scripted upstream) out of the collector's reach, as the agent does once it
    listens: its full collections walked it all again, 30-115 ms each on the loop that
    sends the requests, every 45 s or so (seen by the stall watch in an 8-minute run)."""
    gc.collect()
    gc.freeze()


def _start_agent(cfg: dict, root: Path, stall_ms: float) -> Server:
    """`python -m agent.cli up` from this checkout, its own data folder, its stall watch on."""
    path, data = root / "soak.yaml", tempfile.mkdtemp(prefix="data-soak-", dir=root)
    path.write_bytes(orjson.dumps(cfg))
    port = free_port()
    argv = ["-m", "agent.cli", "up", "--listen", f"127.0.0.1:{port}", "--config", str(path)]
    env = {"PYTHONPATH": str(REPO), **soak_stalls.agent_env(root, stall_ms)}
    server = start("soak", [*argv, "--data-dir", data], port, "/health/live", env)
    server.data_dir = data  # removed by stop()
    return server


def _read_stalls(soak: Soak, root: Path, keep: Path | None) -> None:
    """Both sides' stall lines into `soak`; the raw files copied to `keep` if given."""
    for name in (soak_stalls.AGENT_FILE, soak_stalls.BENCH_FILE):
        if keep is not None and (root / name).exists():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, keep / name)
    soak.stalls.agent = soak_stalls.read_lines(root / soak_stalls.AGENT_FILE)
    soak.stalls.bench = soak_stalls.read_lines(root / soak_stalls.BENCH_FILE)


def _start_dashboard(store: Path, interval_s: float, path: Path) -> subprocess.Popen:
    argv = [sys.executable, str(BENCH / "soak_dashboard.py"), "--store", str(store)]
    with open(path, "wb") as f:
        return subprocess.Popen([*argv, "--interval-s", str(interval_s)], stdout=f)


async def _traffic(args, soak: Soak, agent: Server, store: Path, upstream: FakeUpstream) -> None:
    """Open-loop requests at `args.rate` for `args.minutes`, sampled every `args.sample_s`."""
    rng, mix = random.Random(args.seed), Mix(tenants=args.tenants)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()
    total_s = args.minutes * 60
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        t0 = loop.time()
        sampler = loop.create_task(_sample(args, soak, agent, store, upstream, s, t0))
        with tqdm(total=int(total_s), desc="soak", unit="s", mininterval=5) as bar:
            i = 0
            while (due := t0 + i / args.rate) < t0 + total_s:
                await asyncio.sleep(max(0.0, due - loop.time()))
                path, body, headers = request(i, rng, mix)
                headers["x-fake-chunk-delay"] = str(args.chunk_delay_s)
                t = loop.create_task(_one(s, agent.url + path, body, headers, soak, t0))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                i += 1
                soak.sent = i
                bar.update(int(loop.time() - t0) - bar.n)
                if soak.samples and i % int(args.rate * args.sample_s) == 0:
                    last = soak.samples[-1]
                    bar.set_postfix_str(
                        f"RSS {last.rss / 2**20:.0f} MiB, {last.fds} fds, "
                        f"p99 {last.p99_ms:.0f} ms, backlog {sum(last.backlog.values()):.0f}"
                    )
        await asyncio.gather(*tasks)
        soak.traffic_s = loop.time() - t0
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)


async def _one(s, url: str, body: dict, headers: dict, soak: Soak, t0: float) -> None:
    """One request; its latency is the time to the first chunk of a stream, or the whole
    answer otherwise (a stream's length is the upstream's pace, not the agent's)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with s.post(url, json=body, headers=headers) as r:
            first = None
            async for _ in r.content.iter_any():
                first = first or loop.time()
            end = loop.time()
        soak.answered += 1
        ms = ((first if body.get("stream") and first else end) - start) * 1e3
        soak.latencies.append((end - t0, ms))
        if ms > SLOW_MS:
            soak.stalls.slow.append(Slow(end - t0, ms, r.headers.get("x-request-id", "")))
    except (aiohttp.ClientError, TimeoutError):
        soak.failed += 1


async def _sample(args, soak, agent: Server, store: Path, upstream, s, t0: float) -> None:
    loop = asyncio.get_running_loop()
    seen = 0
    while True:
        await asyncio.sleep(args.sample_s)
        lat = [ms for _, ms in soak.latencies[seen:]]
        seen = len(soak.latencies)
        upstream.received.clear()  # the scripted upstream's own log: not the agent's memory
        upstream.headers_seen.clear()
        soak.samples.append(
            Sample(
                t=loop.time() - t0,
                rss=agent.rss(),
                fds=agent.ps.num_fds(),
                wal=_size(store.with_name(store.name + "-wal")),
                p99_ms=_p99(lat),
                answered=soak.answered,
                backlog=await _gauges(s, agent.url),
                cpu_s=agent.cpu_s(),
            )
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _p99(xs: list[float]) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.99 * len(xs)))]


async def _gauges(s: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with s.get(url + "/metrics") as r:
        return backlog(await r.text())


def backlog(page: str) -> dict[str, float]:
    """The BACKLOG gauges of a /metrics page, each summed over its labels. Only their lines
    go to the parser: parsing the whole page (thousands of series, more as the run goes)
    took 60-100 ms of CPU a sample on the loop that also sends the requests and runs the
    scripted upstream, and the requests in flight then were that much late (the soak's p99
    spikes: the agent's own records of them were fast)."""
    out = dict.fromkeys(BACKLOG, 0.0)
    ours = "\n".join(x for x in page.splitlines() if x.startswith(BACKLOG))
    for fam in text_string_to_metric_families(ours):
        for sample in fam.samples:
            if sample.name in out:
                out[sample.name] += sample.value
    return out


async def _drain(args, soak: Soak, store: Path, es: str) -> None:
    """Wait until the store and the emulator hold a record of every answered request (or
    `args.drain_timeout` passes), then count both."""
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as s:
        while True:
            soak.in_store = await asyncio.to_thread(_count_store, store)
            soak.in_es = (await m.es_totals(s, es, PATTERN))[0]
            if min(soak.in_store, soak.in_es) >= soak.answered:
                soak.drain_s = time.monotonic() - t0
                return
            if time.monotonic() - t0 > args.drain_timeout:
                return
            await asyncio.sleep(1.0)


def _count_store(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    finally:
        conn.close()
