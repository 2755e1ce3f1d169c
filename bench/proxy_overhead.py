"""What the agent adds to a request, measured side by side with a direct call and a floor.

Starts three servers, each its own process on a free port: an instant OpenAI-compatible
upstream (bench/instant_upstream.py), the floor, a minimal aiohttp pass-through proxy with no
measurement (bench/floor_proxy.py), and the agent (`python -m agent.cli up --upstream URL`).
This process is the one load generator (an aiohttp client on uvloop); it is none of the
servers, but on a 2-core machine it shares the cores with them, as they share with anything
else running: so every round runs direct, floor and agent back to back (in a rotating
order) and figures are medians over rounds, so that noise hits the three alike.

Figures (all client-side, in ms unless said):
- direct: the p50/p99 latency (non-streaming) or time to first chunk (streaming) of a round;
- floor / agent: ADDED latency = their p50 (p99) in a round minus direct's p50 (p99) in the
  same round; the table gives the median over rounds, and the spread column the 25th..75th
  percentile across rounds (how noisy it was);
- requests/s of each round's closed-loop batch; chunks/s of one long stream (the direct
  column there is the instant upstream's own ceiling: a proxy cannot beat it);
- CPU ms per request (user+system of the server process over its rounds / requests), RSS;
  chunks per server CPU-second: what a proxy with a core of its own could forward, which a
  busy machine does not change much (chunks/s does: all three processes share 2 cores).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import proxy_load
import proxy_procs
from proxy_report import Row, Scenario, latency_rows, render, rps_row
from tqdm import tqdm

QUICK = {
    "rounds": 3,
    "requests_c1": 50,
    "requests_cn": 320,
    "long_chunks": 10_000,
    "long_rounds": 2,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help=f"a short run (under a minute): {QUICK}")
    p.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    p.add_argument(
        "--requests-c1",
        type=int,
        default=2000,
        help="requests per target per round at concurrency 1 (default 2000: a round's p99 "
        "is then its 20th slowest request, not its 2nd)",
    )
    p.add_argument(
        "--requests-cn",
        type=int,
        default=3200,
        help="requests per target per round at each concurrency above 1 (default 3200)",
    )
    p.add_argument(
        "--concurrency",
        default="1,32",
        help="comma-separated concurrencies (closed-loop workers) to run (default 1,32)",
    )
    p.add_argument(
        "--tokens",
        type=int,
        default=16,
        help="content chunks per streamed request in the time-to-first-chunk rounds (default 16)",
    )
    p.add_argument(
        "--long-chunks",
        type=int,
        default=200_000,
        help="chunks in the one long stream of the chunk-throughput test (default 200000)",
    )
    p.add_argument(
        "--long-rounds", type=int, default=5, help="rounds of the chunk-throughput test (default 5)"
    )
    p.add_argument("--markdown", metavar="FILE", help="also write the results and command here")
    p.add_argument(
        "--candidate",
        metavar="DIR",
        type=Path,
        help="another checkout whose agent runs as a fourth target, side by side "
        "(to measure a proposed change: the table adds candidate/agent ratios)",
    )
    p.add_argument(
        "--candidate-env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="environment of the candidate agent, repeatable; e.g. `--candidate . "
        "--candidate-env INFERWATCH_SAFETY__ENABLED=false` measures what the safety filters cost",
    )
    args = p.parse_args(argv)
    args.candidate_env = dict(kv.split("=", 1) for kv in args.candidate_env)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    return args


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    return [
        Scenario(f"c{c} {'stream' if s else 'json'}", c, s)
        for c in args.concurrency
        for s in (False, True)
    ]


class Bench:
    """Runs the rounds against the started servers and keeps what they gave."""

    def __init__(self, args: argparse.Namespace, servers: dict) -> None:
        self.args, self.servers = args, servers
        self.proxies = [t for t in servers if t != "upstream"]
        self.targets = ["direct", *self.proxies]
        self.urls = {"direct": servers["upstream"].url}
        self.urls |= {t: servers[t].url for t in self.proxies}
        self.cpu = {(t, k): [0.0, 0] for t in self.proxies for k in ("json", "stream")}
        self.rss_peak = {t: 0 for t in self.proxies}
        self.chunks: dict[str, list[float]] = {t: [] for t in self.targets}
        self.chunk_cpu = {t: 0.0 for t in self.proxies}

    def order(self, r: int) -> list[str]:
        """Round r's order of targets: rotated each round so none is always first."""
        k = r % len(self.targets)
        return self.targets[k:] + self.targets[:k]

    async def batch(self, session, target: str, s: Scenario, n: int) -> proxy_load.Batch:
        server = self.servers.get(target) if target != "direct" else None
        before = server.cpu_s() if server else 0.0
        b = await proxy_load.run(
            session, self.urls[target], n, s.concurrency, s.stream, self.args.tokens
        )
        if b.failures:
            raise RuntimeError(f"{target} {s.label}: {b.failures} requests failed")
        if server:
            acc = self.cpu[(target, "stream" if s.stream else "json")]
            acc[0] += server.cpu_s() - before
            acc[1] += n
            self.rss_peak[target] = max(self.rss_peak[target], server.rss())
        return b

    def n(self, s: Scenario) -> int:
        return self.args.requests_c1 if s.concurrency == 1 else self.args.requests_cn

    async def rounds(self, session, scens: list[Scenario], bar) -> None:
        for s in scens:  # warm-up: connections, caches, JIT-less but lazy imports
            for t in self.targets:
                await proxy_load.run(
                    session, self.urls[t], 2 * s.concurrency, s.concurrency, s.stream, 4
                )
        for r in range(self.args.rounds):
            for s in scens:
                for t in self.order(r):
                    bar.set_postfix_str(f"round {r + 1} {s.label} {t}")
                    s.rounds[t].append(await self.batch(session, t, s, self.n(s)))
                    bar.update()

    async def long_streams(self, session, bar) -> None:
        for r in range(self.args.long_rounds):
            for t in self.order(r):
                bar.set_postfix_str(f"long stream {r + 1} {t}")
                server = self.servers.get(t) if t != "direct" else None
                before = server.cpu_s() if server else 0.0
                rate = await proxy_load.long_stream(session, self.urls[t], self.args.long_chunks)
                self.chunks[t].append(rate)
                if server:
                    self.chunk_cpu[t] += server.cpu_s() - before
                bar.update()

    async def run(self, scens: list[Scenario]) -> None:
        total = (self.args.rounds * len(scens) + self.args.long_rounds) * len(self.targets)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            with tqdm(total=total, desc="rounds", unit="batch", file=sys.stderr) as bar:
                await self.rounds(session, scens, bar)
                await self.long_streams(session, bar)

    def rows(self, scens: list[Scenario]) -> list[Row]:
        rows = []
        for s in scens:
            rows += latency_rows(s)
            if s.concurrency > 1:
                rows.append(rps_row(s))
        per = self.chunks
        spread = "; ".join(f"{t} {min(v):,.0f}..{max(v):,.0f}" for t, v in per.items())
        vals = {t: statistics.median(v) for t, v in per.items()}
        rows.append(
            Row(
                f"long stream ({self.args.long_chunks} chunks): chunks/s",
                vals,
                f"min..max: {spread}",
                "{:,.0f}",
            )
        )
        chunks = self.args.long_chunks * self.args.long_rounds
        vals = {t: chunks / c for t, c in self.chunk_cpu.items() if c > 0}
        name = "long stream: chunks per server CPU-second (load-independent)"
        rows.append(Row(name, vals, "", "{:,.0f}"))
        for kind in ("json", "stream"):
            vals = {t: 1e3 * c / n for (t, k), (c, n) in self.cpu.items() if k == kind}
            rows.append(Row(f"server CPU ms per request ({kind}, all rounds)", vals))
        vals = {t: self.servers[t].rss() / 2**20 for t in self.proxies}
        peak = ", ".join(f"{t} {v / 2**20:.1f}" for t, v in self.rss_peak.items())
        rows.append(Row("server RSS MB at end", vals, f"peak seen: {peak}", "{:.1f}"))
        return rows


def header(argv: list[str], elapsed: float, load: tuple) -> str:
    cmd = shlex.join(["python", "bench/proxy_overhead.py", *argv])
    return (
        f"command: `{cmd}`\n"
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}; aiohttp {aiohttp.__version__}; run took {elapsed:.0f} s\n"
        f"load average before/after: {load[0]:.2f} / {load[1]:.2f} (other work on the machine)\n"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    import uvloop

    scens = scenarios(args)
    load0, t0 = os.getloadavg()[0], time.monotonic()
    servers = proxy_procs.start_all(args.candidate, args.candidate_env)
    try:
        bench = Bench(args, servers)
        uvloop.run(bench.run(scens))
        rows = bench.rows(scens)
    finally:
        proxy_procs.stop_all(servers)
    head = header(argv, time.monotonic() - t0, (load0, os.getloadavg()[0]))
    print(head)
    print(render(rows, bench.targets, markdown=False))
    if args.markdown:
        table = render(rows, bench.targets, markdown=True)
        Path(args.markdown).write_text(f"{head}\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
