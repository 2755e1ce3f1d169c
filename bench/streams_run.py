"""One run of the many-streams benchmark (see streams.py for the command line): a paced
upstream (bench/paced_upstream.py) and the agent, each its own process, an out-of-process
prober of the agent's loop (bench/streams_probe.py), and here the client holding the streams.

Phases: rest (the agent warmed by a few short streams, then idle: RSS and probe latency at
rest), ramp (N streams opened at an even pace, until each has had its first chunk), hold
(all N open: RSS, CPU, chunks and probe latency measured), then every stream is closed."""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import psutil
from tqdm import tqdm

from bench.proxy_procs import BENCH, Server, free_port, start, stop
from bench.shadow_run import start_agent

FDS_PER_STREAM = 2  # the agent holds a client and an upstream connection per stream
FDS_SPARE = 1024
WARM_STREAMS = 20


@dataclass
class Outcome:
    """What one run measured (times in seconds, memory in bytes)."""

    streams: int
    opened: int = 0  # streams that had their first chunk during the ramp
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    ramp_s: float = 0.0
    rss_rest: int = 0
    rss_hold: int = 0  # median over the hold
    hold_s: float = 0.0
    chunks_hold: int = 0  # SSE events the client received during the hold
    agent_cpu_s: float = 0.0  # during the hold
    upstream_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    lag_rest_ms: list[float] = field(default_factory=list)
    lag_hold_ms: list[float] = field(default_factory=list)
    lag_failed: int = 0  # probe samples with no answer within its timeout
    loadavg: tuple[float, float] = (0.0, 0.0)  # 1-minute load at the hold's start and end
    nofile: tuple[int, int] = (0, 0)  # RLIMIT_NOFILE (soft, hard) the processes ran with


def raise_nofile(streams: int) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE (inherited by the servers it starts) to what
    `streams` need, within the hard limit; SystemExit naming the limit when it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = FDS_PER_STREAM * streams + FDS_SPARE
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit(
            f"{streams} streams need about {need} open files in the agent, but the hard "
            f"limit (ulimit -Hn) is {hard}: use fewer --streams, or raise the hard limit "
            "(limits.conf, systemd LimitNOFILE, or `prlimit --nofile`) as root"
        )
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need, hard


class Streams:
    """The client side: opens streams, counts their chunks, keeps them open until stopped."""

    def __init__(self, url: str, tokens: int) -> None:
        self.url = url + "/v1/chat/completions"
        self.body = orjson.dumps(
            {
                "model": "paced",
                "messages": [{"role": "user", "content": "write a long story"}],
                "stream": True,
                "stream_options": {"include_usage": True},
                "max_tokens": tokens,
            }
        )
        self.open = self.chunks = self.errors = 0
        self.first_errors: list[str] = []

    async def one(self, session: aiohttp.ClientSession) -> None:
        """One stream, read until the run cancels it; anything else that ends it is an error."""
        seen = False
        try:
            async with session.post(self.url, data=self.body, headers=_JSON) as r:
                if r.status != 200:
                    return self._fail(f"HTTP {r.status}")
                async for data in r.content.iter_any():
                    if not seen:
                        seen, self.open = True, self.open + 1
                    self.chunks += data.count(b"data: ")
            self._fail("the stream ended before the run closed it")
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            self._fail(f"{type(e).__name__}: {e}")
        finally:
            self.open -= seen

    def _fail(self, why: str) -> None:
        self.errors += 1
        if len(self.first_errors) < 5:
            self.first_errors.append(why)


_JSON = {"Content-Type": "application/json"}


def start_upstream(args) -> Server:
    """bench/paced_upstream.py at the run's pace, with a listen backlog for the ramp."""
    port = free_port()
    argv = [str(BENCH / "paced_upstream.py"), "--port", str(port), "--backlog", "4096"]
    argv += ["--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms)]
    return start("upstream", [*argv, "--itl-jitter-ms", str(args.itl_jitter_ms)], port, "/health")


def agent_config(upstream: str, streams: int) -> dict:
    """Every default feature on; only the connection caps raised to hold `streams`."""
    cap = streams + 256
    return {
        "logging": {"level": "WARNING"},
        "upstream": {"url": upstream, "max_connections": cap},
        "limits": {"max_connections": cap},
    }


def tokens_for(args) -> int:
    """Tokens per stream: enough to outlast the ramp and the hold at the fastest pace."""
    fastest = max(args.itl_ms - args.itl_jitter_ms, 1.0) / 1e3
    return int((args.ramp_s + args.hold_s + 120) / fastest)


async def run(args, root: Path) -> Outcome:
    """Start the servers under `root`, run the phases, stop everything."""
    out = Outcome(streams=args.streams, nofile=raise_nofile(args.streams))
    up = start_upstream(args)
    agent = probe = None
    try:
        agent = start_agent("agent", agent_config(up.url, args.streams), root)
        probe = _start_probe(agent.url, args.probe_ms, root / "probe.txt")
        await _phases(args, out, agent, up)
    finally:
        if probe is not None:
            probe.terminate()
            probe.wait(10)
        for server in (agent, up):
            if server is not None:
                stop(server)
    _cut_probe(root / "probe.txt", out)
    return out


def _start_probe(url: str, interval_ms: float, path: Path) -> subprocess.Popen:
    argv = [sys.executable, str(BENCH / "streams_probe.py"), "--url", url]
    with open(path, "wb") as f:
        return subprocess.Popen([*argv, "--interval-ms", str(interval_ms)], stdout=f)


_marks: dict[str, float] = {}


def _cut_probe(path: Path, out: Outcome) -> None:
    """Split the probe's samples into the rest and hold windows."""
    for line in path.read_text().splitlines():
        t, ms = (float(x) for x in line.split())
        if ms != ms:  # nan: no answer within the probe's timeout
            out.lag_failed += 1
        elif _marks["rest0"] <= t < _marks["rest1"]:
            out.lag_rest_ms.append(ms)
        elif _marks["hold0"] <= t < _marks["hold1"]:
            out.lag_hold_ms.append(ms)


async def _phases(args, out: Outcome, agent: Server, up: Server) -> None:
    client = Streams(agent.url, tokens_for(args))
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        await _rest(args, out, agent, s)
        tasks = await _ramp(args, out, client, s)
        try:
            await _hold(args, out, client, agent, up)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    out.errors, out.first_errors = client.errors, client.first_errors


async def _rest(args, out: Outcome, agent: Server, s: aiohttp.ClientSession) -> None:
    """A few short streams (every code path warm), then idle: RSS and probe latency."""
    body = orjson.dumps({"model": "paced", "stream": True, "max_tokens": 8, "messages": []})
    for _ in range(WARM_STREAMS):
        async with s.post(agent.url + "/v1/chat/completions", data=body, headers=_JSON) as r:
            await r.read()
    await asyncio.sleep(2.0)  # the records of the warm-up written and shipped
    _marks["rest0"] = time.monotonic()
    rss = []
    for _ in range(int(args.rest_s / 0.5)):
        rss.append(agent.rss())
        await asyncio.sleep(0.5)
    _marks["rest1"] = time.monotonic()
    out.rss_rest = int(statistics.median(rss))


async def _ramp(args, out: Outcome, client: Streams, s) -> list[asyncio.Task]:
    """Open the streams at an even pace; wait until each has had its first chunk."""
    loop, tasks = asyncio.get_running_loop(), []
    t0 = loop.time()
    with tqdm(total=args.streams, desc="streams open", unit="stream") as bar:
        for i in range(args.streams):
            await asyncio.sleep(max(0.0, t0 + i * args.ramp_s / args.streams - loop.time()))
            tasks.append(loop.create_task(client.one(s)))
            if i % 50 == 0:
                bar.update(client.open - bar.n)
        deadline = loop.time() + args.ramp_s + 60
        while client.open + client.errors < args.streams and loop.time() < deadline:
            await asyncio.sleep(0.2)
            bar.update(client.open - bar.n)
        bar.update(client.open - bar.n)
    out.ramp_s, out.opened = loop.time() - t0, client.open
    return tasks


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


async def _hold(args, out: Outcome, client: Streams, agent: Server, up: Server) -> None:
    """All streams open: RSS every second; CPU and chunks over the whole hold."""
    me = psutil.Process()
    cpu0 = (agent.cpu_s(), up.cpu_s(), _cpu(me))
    chunks0, load0 = client.chunks, psutil.getloadavg()[0]
    _marks["hold0"] = t0 = time.monotonic()
    rss = []
    with tqdm(total=int(args.hold_s), desc="holding", unit="s") as bar:
        for _ in range(int(args.hold_s)):
            await asyncio.sleep(1.0)
            rss.append(agent.rss())
            bar.set_postfix_str(f"open {client.open}, errors {client.errors}")
            bar.update()
    _marks["hold1"] = time.monotonic()
    out.hold_s = _marks["hold1"] - t0
    out.chunks_hold = client.chunks - chunks0
    out.agent_cpu_s = agent.cpu_s() - cpu0[0]
    out.upstream_cpu_s = up.cpu_s() - cpu0[1]
    out.client_cpu_s = _cpu(me) - cpu0[2]
    out.rss_hold = int(statistics.median(rss))
    out.loadavg = (load0, psutil.getloadavg()[0])


def root_dir():
    """A temporary folder for the run's files (the agent's store, the probe's samples)."""
    return tempfile.TemporaryDirectory(prefix="inferwatch-streams-")
