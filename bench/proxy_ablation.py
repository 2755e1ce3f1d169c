"""What each part of the agent costs on the request path: the agent with one feature off at a
time, side by side with the floor (a bare pass-through), against the instant upstream.

Each variant is the same checkout started with environment overrides (`INFERWATCH_*`), all
running at once; rounds are interleaved (each round visits every variant, in a rotating
order). Printed per variant, medians over rounds: requests/s and its ratio to the floor's,
server CPU ms per request (psutil, all threads), latency p50, p99 and p99.9 (whole response,
or time to the first chunk with --stream).

Run: `python bench/proxy_ablation.py [--concurrency 1] [--stream] [--variants full,no-store]
[--checkout NAME=DIR ...]` (`--checkout` adds the full agent of another checkout, e.g. an
experiment, as one more variant).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_load  # noqa: E402
import proxy_procs  # noqa: E402

_OFF = "false"
_NO_COLLECTORS = '{"nvml":false,"host":false,"vllm":false}'
VARIANTS: dict[str, dict[str, str]] = {
    "full": {},
    "no-store": {"INFERWATCH_STORE__ENABLED": _OFF},
    "no-cost": {"INFERWATCH_COST__ENABLED": _OFF},
    "no-safety": {"INFERWATCH_SAFETY__ENABLED": _OFF},
    "no-collectors": {"INFERWATCH_COLLECTORS__ENABLED": _NO_COLLECTORS},
    "store-flush-10ms": {"INFERWATCH_STORE__FLUSH_INTERVAL_S": "0.01"},
    "writer-normal": {"INFERWATCH_STORE__WRITER_PRIORITY": "normal"},
    "aiohttp-client": {"INFERWATCH_UPSTREAM__CLIENT": "aiohttp"},
    "core": {
        "INFERWATCH_STORE__ENABLED": _OFF,
        "INFERWATCH_COST__ENABLED": _OFF,
        "INFERWATCH_SAFETY__ENABLED": _OFF,
        "INFERWATCH_COLLECTORS__ENABLED": _NO_COLLECTORS,
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--variants",
        default="full,no-store,no-cost,no-safety,core",
        help=f"comma-separated, from: {', '.join(VARIANTS)} (default: %(default)s)",
    )
    p.add_argument("--concurrency", type=int, default=32, help="closed-loop workers (32)")
    p.add_argument("--requests", type=int, default=3000, help="requests per variant per round")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    p.add_argument("--stream", action="store_true", help="16-token streams instead of JSON")
    p.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="one more variant NAME: the full agent run from checkout DIR (repeatable)",
    )
    args = p.parse_args(argv)
    checkouts = {}
    for item in args.checkout:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path, "agent").is_dir():
            p.error(f"--checkout wants NAME=DIR with DIR a checkout holding agent/: {item!r}")
        checkouts[name] = Path(path).resolve()
    args.checkout = checkouts
    args.variants = args.variants.split(",")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants: {', '.join(unknown)}")
    return args


async def drive(url: str, args: argparse.Namespace) -> proxy_load.Batch:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        await proxy_load.run(s, url, 200, args.concurrency, args.stream, 16)  # warm-up
        return await proxy_load.run(s, url, args.requests, args.concurrency, args.stream, 16)


def main() -> None:
    args = parse_args()
    servers = proxy_procs.start_all()
    try:
        up = servers["upstream"].url
        for name in args.variants:
            servers[name] = proxy_procs.start_agent(name, up, proxy_procs.REPO, VARIANTS[name])
        for name, root in args.checkout.items():
            servers[name] = proxy_procs.start_agent(name, up, root)
        names = ["floor", *args.variants, *args.checkout]
        rows: dict[str, list[tuple[float, ...]]] = {n: [] for n in names}
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                srv = servers[name]
                cpu0 = srv.cpu_s()
                batch = uvloop.run(drive(srv.url, args))
                cpu = (srv.cpu_s() - cpu0) * 1e3 / (args.requests + 200)
                lat = sorted(batch.latencies_ns)
                p50, p99, p999 = (lat[int(len(lat) * q)] / 1e6 for q in (0.5, 0.99, 0.999))
                rows[name].append((batch.rps, cpu, p50, p99, p999))
    finally:
        proxy_procs.stop_all(servers)
    floor = statistics.median(x[0] for x in rows["floor"])
    kind = "stream TTFC" if args.stream else "json latency"
    print(f"c{args.concurrency} {kind}, {args.requests} requests x {args.rounds} rounds")
    print(
        f"{'variant':18} {'req/s':>7} {'/floor':>7} {'CPU ms/req':>10} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'p99.9 ms':>8}"
    )
    for name in names:
        rps, cpu, p50, p99, p999 = (statistics.median(x[i] for x in rows[name]) for i in range(5))
        print(
            f"{name:18} {rps:7.0f} {rps / floor:6.2f}x {cpu:10.3f} {p50:7.3f} {p99:7.3f} "
            f"{p999:8.3f}"
        )


if __name__ == "__main__":
    main()
