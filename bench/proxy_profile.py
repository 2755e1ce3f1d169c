"""Profile the agent under load: py-spy samples it while one client drives it, then the
hottest frames are printed (self time, and inclusive time of the agent's own functions).

Needs py-spy (`pip install py-spy`; root or ptrace permission). Starts the same instant
upstream and agent as bench/proxy_overhead.py. Samples are wall-clock stacks of a busy
process: on a loaded machine, time in socket writes includes being preempted after waking
the peer, so read them for where Python time goes, and CPU ms per request from the
benchmark for how much.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import proxy_load
import proxy_procs
import uvloop

_LINE = re.compile(r":\d+\)$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=int, default=15, help="how long to sample (default 15)")
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop workers (default 32)")
    p.add_argument("--stream", action="store_true", help="streamed requests instead of JSON")
    p.add_argument("--top", type=int, default=25, help="rows of each table (default 25)")
    p.add_argument("--rate", type=int, default=500, help="py-spy samples per second (500)")
    p.add_argument("--raw", metavar="FILE", help="keep py-spy's collapsed stacks here")
    p.add_argument(
        "--env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="environment of the profiled agent, repeatable (e.g. INFERWATCH_STORE__ENABLED=false)",
    )
    p.add_argument(
        "--gil",
        action="store_true",
        help="sample only the thread holding the GIL: where the agent's one core of Python "
        "goes (without it, threads waiting for work or for the GIL are sampled too)",
    )
    return p.parse_args(argv)


async def drive(url: str, args: argparse.Namespace, spy: subprocess.Popen) -> int:
    """Keep the agent busy until py-spy is done; returns the requests served."""
    n = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        while spy.poll() is None:
            b = await proxy_load.run(
                session, url, 20 * args.concurrency, args.concurrency, args.stream, 16
            )
            n += len(b.latencies_ns)
    return n


def tables(raw: Path, top: int) -> str:
    """Self time of every frame, and inclusive time of the agent's own frames, in %."""
    own, incl, total = collections.Counter(), collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_LINE.sub(")", f) for f in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for f in set(frames):
            if "agent/" in f and "agent/cli.py" not in f:
                incl[f] += int(count)
    out = [f"{total} samples", "-- self time (top frames)"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    out += ["-- inclusive time of agent/ functions"]
    out += [f"{100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2
    if args.raw:
        raw = Path(args.raw)
    else:
        fd, name = tempfile.mkstemp(suffix=".txt")
        os.close(fd)
        raw = Path(name)
    servers = proxy_procs.start_all()
    try:
        agent = servers["agent"]
        if args.env:  # the agent again, with this environment
            proxy_procs.stop(agent)
            env = dict(kv.split("=", 1) for kv in args.env)
            up = servers["upstream"].url
            agent = servers["agent"] = proxy_procs.start_agent("agent", up, proxy_procs.REPO, env)
        cmd = ["py-spy", "record", "--pid", str(agent.proc.pid), "--rate", str(args.rate)]
        cmd += ["--duration", str(args.seconds), "--format", "raw", "-o", str(raw)]
        cmd += ["--gil"] if args.gil else []
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t0, cpu0 = time.monotonic(), agent.cpu_s()
        n = uvloop.run(drive(agent.url, args, spy))
        cpu = agent.cpu_s() - cpu0
        if spy.returncode != 0:
            print(spy.stderr.read().decode(), file=sys.stderr)
            return 1
    finally:
        proxy_procs.stop_all(servers)
    rps = n / (time.monotonic() - t0)
    print(f"{n} requests, {rps:.0f}/s, agent CPU {1e3 * cpu / n:.3f} ms/request (while sampled)")
    print(tables(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
