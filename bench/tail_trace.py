"""What the agent's slowest requests overlap: its tail, attributed to its background work.

Starts the instant upstream and the agent (through bench/tail_probe.py, which times the
agent's background work: garbage collections, store writer batches, collector threads, cost
intervals, per-turn slices, pipeline deliveries), drives it from one closed-loop client,
keeping each request's send and receive time on the same monotonic clock, then stops the
agent and reads its timings back.

Printed per kind of background work: how many ran and how long (p50, p99, max in us); the
share of all requests whose span overlapped one; the share of the slow requests (at or over
the `--quantile` latency) that did; and the lift, their ratio. A kind with a lift well over 1
is in the tail; the last line says how many slow requests overlapped nothing timed (their
cause is outside: the machine, the load generator, the kernel, or untimed agent work).

Run: `python bench/tail_trace.py [--requests 20000] [--concurrency 1] [--stream]
[--checkout DIR] [--env NAME=VALUE ...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson
import uvloop
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_load  # noqa: E402
import proxy_procs  # noqa: E402

_now = time.perf_counter_ns


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--requests", type=int, default=20_000, help="requests timed (20000)")
    p.add_argument("--concurrency", type=int, default=1, help="closed-loop workers (1)")
    p.add_argument("--stream", action="store_true", help="16-token streams (time to 1st chunk)")
    p.add_argument("--quantile", type=float, default=0.99, help="slow = at or over it (0.99)")
    p.add_argument("--checkout", type=Path, default=proxy_procs.REPO, help="agent checkout")
    p.add_argument(
        "--dump",
        type=Path,
        help="also write the raw timings here as JSON: {spans: [[sent, received] ns], events: "
        "the probe's [kind, start, end, cpu] list}, for analyses this report does not make",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment override for the agent, e.g. INFERWATCH_STORE__ENABLED=false",
    )
    return p.parse_args(argv)


async def drive(url: str, n: int, concurrency: int, stream: bool) -> list[tuple[int, int]]:
    """`n` requests; each one's (sent, answered) in monotonic ns (first chunk for streams)."""
    data = proxy_load.body(stream, 16)
    spans: list[tuple[int, int]] = []
    left = [n]
    bar = tqdm(total=n, unit="req", leave=False, disable=None, mininterval=1)

    async def worker(s: aiohttp.ClientSession) -> None:
        while left[0] > 0:
            left[0] -= 1
            t0 = _now()
            async with s.post(url, data=data, headers=proxy_load.HEADERS) as resp:
                if stream:
                    await resp.content.readany()
                    t1 = _now()
                    async for _ in resp.content.iter_any():
                        pass
                else:
                    await resp.read()
                    t1 = _now()
            spans.append((t0, t1))
            bar.update()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        await proxy_load.run(s, url.rsplit("/v1/", 1)[0], 500, concurrency, stream, 16)  # warm
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))
    bar.close()
    return spans


def overlaps(spans: list[tuple[int, int]], events: list[tuple[int, int]]) -> list[bool]:
    """For each span, whether any event interval overlaps it."""
    events = sorted(events)
    starts = [e[0] for e in events]
    max_end = list(itertools.accumulate((e[1] for e in events), max))
    out = []
    for t0, t1 in spans:
        i = bisect.bisect_left(starts, t1)  # events starting before the span ends
        out.append(i > 0 and max_end[i - 1] > t0)
    return out


def report(spans: list[tuple[int, int]], events: list, quantile: float) -> None:
    lat = [t1 - t0 for t0, t1 in spans]
    cut = sorted(lat)[int(len(lat) * quantile)]
    slow = [x >= cut for x in lat]
    n_slow = sum(slow)
    print(
        f"{len(spans)} requests: p50 {statistics.median(lat) / 1e6:.3f} ms, "
        f"p{quantile * 100:g} {cut / 1e6:.3f} ms ({n_slow} slow)"
    )
    by_kind: dict[str, list[tuple[int, int]]] = {}
    cpu: dict[str, list[int]] = {}
    for kind, t0, t1, c in events:
        by_kind.setdefault(kind, []).append((t0, t1))
        cpu.setdefault(kind, []).append(c)
    print(
        f"{'kind':28} {'count':>6} {'p50 us':>7} {'p99 us':>7} {'max us':>7} {'cpu p50':>7} "
        f"{'cpu p99':>7} {'all %':>6} {'slow %':>6} {'lift':>5}"
    )
    any_hit = [False] * len(spans)
    rows = []
    for kind, evs in by_kind.items():
        durs = sorted((b - a) / 1e3 for a, b in evs)
        hit = overlaps(spans, evs)
        any_hit = [a or b for a, b in zip(any_hit, hit, strict=True)]
        share = sum(hit) / len(hit)
        slow_share = sum(h for h, s in zip(hit, slow, strict=True) if s) / max(1, n_slow)
        lift = slow_share / share if share else 0.0
        cpus = sorted(c / 1e3 for c in cpu[kind])
        rows.append((slow_share - share, kind, durs, cpus, share, slow_share, lift))
    for _, kind, durs, cpus, share, slow_share, lift in sorted(rows, reverse=True):
        n = len(durs)
        print(
            f"{kind:28} {n:6d} {durs[n // 2]:7.0f} {durs[int(n * 0.99)]:7.0f} {durs[-1]:7.0f} "
            f"{cpus[n // 2]:7.0f} {cpus[int(n * 0.99)]:7.0f} "
            f"{share * 100:6.1f} {slow_share * 100:6.1f} {lift:5.1f}"
        )
    lone = sum(1 for h, s in zip(any_hit, slow, strict=True) if s and not h)
    print(f"slow requests overlapping nothing timed: {lone} of {n_slow}")


def main() -> None:
    args = parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name  # noqa: SIM115
    servers: dict[str, proxy_procs.Server] = {}
    try:
        servers["upstream"] = proxy_procs.start_upstream()
        servers["agent"] = proxy_procs.start_agent(
            "agent", servers["upstream"].url, args.checkout.resolve(), env, probe_out=out
        )
        url = servers["agent"].url + proxy_load.PATH
        spans = uvloop.run(drive(url, args.requests, args.concurrency, args.stream))
    finally:
        proxy_procs.stop_all(servers)
    events = orjson.loads(Path(out).read_bytes())
    os.unlink(out)
    census = Path(out + ".census.json")  # the probe's INFERWATCH_PROBE_GC_CENSUS output
    if census.exists():
        if args.dump:
            census.replace(Path(str(args.dump) + ".census.json"))
        else:
            census.unlink()
    if args.dump:
        args.dump.write_bytes(orjson.dumps({"spans": spans, "events": events}))
    print(f"c{args.concurrency} {'stream TTFC' if args.stream else 'json latency'}, {env or ''}")
    report(spans, events, args.quantile)


if __name__ == "__main__":
    main()
