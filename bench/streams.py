"""Many open streams through one agent, at a GPU's pace (issue 22, "at the scale of a GPU
server"): a scripted upstream (bench/paced_upstream.py) streams a token every 20-40 ms
(--itl-ms 30 --itl-jitter-ms 10) on every stream; N streams (default 5,000) are opened
through the agent at an even pace and held open together, then closed.

Reported: errors (a stream refused, broken, or not open by the end of the ramp); RSS per
open stream, (agent RSS during the hold - at rest) / N; the agent's event-loop lag, seen
from outside as the latency of `GET /health/live` sampled every 20 ms by a process of its
own (bench/streams_probe.py; the agent exposes no loop-lag figure); and the streamed
chunks (SSE events, one per token as vLLM sends them) the agent forwarded per CPU-second
of its own process during the hold.

    python bench/streams.py                                # 5,000 streams, about 3 minutes
    python bench/streams.py --streams 200 --ramp-s 5 --hold-s 10   # smoke run, ~30 s

The client (this process) needs about N open files, the agent about 2N: the soft limit is
raised to that within the hard one (ulimit -Hn), or the run stops and says so. The agent
runs with its defaults except the connection caps (limits.max_connections 4,096 and
upstream.max_connections 1,024 by default), raised to N + 256.

Writes bench/results/streams.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.streams_run import Outcome, root_dir, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RSS_TARGET_KB = 50
CHUNKS_TARGET = 100_000
STARTUP_S = 25  # servers up, warm-up streams, teardown


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every option explained in --help."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--streams", type=int, default=5000, help="streams held open together (default 5000)"
    )
    p.add_argument(
        "--ramp-s",
        type=float,
        default=50.0,
        help="seconds over which the streams are opened, evenly (default 50: 100 a second)",
    )
    p.add_argument(
        "--hold-s",
        type=float,
        default=60.0,
        help="seconds all streams are held open and measured (default 60)",
    )
    p.add_argument(
        "--rest-s",
        type=float,
        default=5.0,
        help="seconds the warmed, idle agent is measured before the ramp (default 5)",
    )
    p.add_argument(
        "--itl-ms",
        type=float,
        default=30.0,
        help="mean gap between two tokens of one stream, ms (default 30)",
    )
    p.add_argument(
        "--itl-jitter-ms",
        type=float,
        default=10.0,
        help="each gap uniform in itl +- this, ms (default 10: 20-40 ms)",
    )
    p.add_argument(
        "--ttft-ms", type=float, default=200.0, help="time to the first token, ms (default 200)"
    )
    p.add_argument(
        "--probe-ms",
        type=float,
        default=20.0,
        help="interval of the /health/live probe, ms (default 20)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench/results/streams.md",
        help="markdown result file (default bench/results/streams.md)",
    )
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.streams < 1 or args.ramp_s <= 0 or args.hold_s < 2 or args.rest_s < 1:
        p.error("--streams >= 1, --ramp-s > 0, --hold-s >= 2, --rest-s >= 1")
    return args


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (0-100) of xs, NaN when empty."""
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=1000, method="inclusive")[int(q * 10) - 1]


def figures(args, out: Outcome) -> list[tuple[str, str, str]]:
    """(figure, value, target / verdict) rows."""
    per = (out.rss_hold - out.rss_rest) / out.streams / 1024
    cps = out.chunks_hold / out.agent_cpu_s if out.agent_cpu_s else float("nan")
    ok = out.errors == 0 and out.opened == out.streams
    rest50, hold99 = pct(out.lag_rest_ms, 50), pct(out.lag_hold_ms, 99)
    return [
        (
            "streams open together, errors",
            f"{out.opened:,} of {out.streams:,}, {out.errors} errors",
            f"all, 0 errors: {'met' if ok else 'NOT met'}",
        ),
        (
            "agent RSS at rest -> holding",
            f"{out.rss_rest / 2**20:,.1f} -> {out.rss_hold / 2**20:,.1f} MiB",
            "",
        ),
        (
            "RSS per open stream",
            f"{per:,.1f} KB",
            f"<= {RSS_TARGET_KB} KB: {'met' if per <= RSS_TARGET_KB else 'NOT met'}",
        ),
        (
            "/health/live latency at rest p50 / p99",
            f"{rest50:.2f} / {pct(out.lag_rest_ms, 99):.2f} ms",
            "",
        ),
        (
            "/health/live latency holding p50 / p99 / max",
            f"{pct(out.lag_hold_ms, 50):.2f} / {hold99:.2f} / "
            f"{max(out.lag_hold_ms, default=float('nan')):.2f} ms",
            f"loop lag p99 ~ {hold99 - rest50:.2f} ms (holding p99 - rest p50)",
        ),
        (
            "chunks forwarded during the hold",
            f"{out.chunks_hold:,} in {out.hold_s:.1f} s = {out.chunks_hold / out.hold_s:,.0f}/s",
            f"paced: {out.streams * 1e3 / args.itl_ms:,.0f}/s asked of the upstream",
        ),
        (
            "agent CPU during the hold",
            f"{out.agent_cpu_s:.1f} s ({out.agent_cpu_s / out.hold_s:.0%} of a core)",
            f"upstream {out.upstream_cpu_s / out.hold_s:.0%}, "
            f"client {out.client_cpu_s / out.hold_s:.0%} of a core",
        ),
        (
            "chunks per agent CPU-second",
            f"{cps:,.0f}",
            f">= {CHUNKS_TARGET:,}: {'met' if cps >= CHUNKS_TARGET else 'NOT met'}",
        ),
    ]


def markdown(args, out: Outcome, started: str, elapsed: float, smoke: bool) -> str:
    """The result file: command, conditions, one table of figures, errors if any."""
    rows = figures(args, out)
    lines = [
        "# Many open streams (issue 22)",
        "",
        *(["**Smoke-sized run, not the measurement.**", ""] if smoke else []),
        f"Command: `{' '.join(['python bench/streams.py', *args.argv])}`",
        f"Run: {started} UTC, {elapsed:.0f} s, {os.cpu_count()} cores ({platform.node()}), "
        f"1-minute load {out.loadavg[0]:.1f} at the hold's start, {out.loadavg[1]:.1f} at its "
        f"end; open files limit {out.nofile[0]:,} (hard {out.nofile[1]:,}).",
        f"Upstream: bench/paced_upstream.py, first token after {args.ttft_ms:g} ms, then one "
        f"every {args.itl_ms - args.itl_jitter_ms:g}-{args.itl_ms + args.itl_jitter_ms:g} ms "
        f"per stream. {out.streams:,} streams opened over {out.ramp_s:.0f} s, all held "
        f"{out.hold_s:.0f} s. Agent: defaults (store, cost, safety on), connection caps "
        f"raised to {out.streams + 256:,}. Upstream, agent and client share the machine's "
        "cores: their CPU is given below.",
        "",
        "| figure | value | target / note |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "Loop lag is read from outside: `/health/live` answers without any work, so its "
        "latency is the time it waited on the agent's event loop plus one trivial request "
        f"(the at-rest p50). {len(out.lag_hold_ms):,} samples holding, {out.lag_failed} "
        "unanswered. A chunk is one SSE event (one token), counted by the client as it "
        "arrived; chunks per CPU-second divide those of the hold by the agent process's "
        "user + system CPU over the same seconds.",
    ]
    if out.first_errors:
        lines += ["", "First errors: " + "; ".join(out.first_errors)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print and save the result."""
    args = parse_args(argv)
    eta = STARTUP_S + args.rest_s + args.ramp_s + args.hold_s
    print(
        f"{args.streams:,} streams: about {eta / 60:.1f} minutes "
        f"(ramp {args.ramp_s:g} s, hold {args.hold_s:g} s; at most {(eta + 60) / 60:.1f} if "
        "the last streams are slow to open)",
        flush=True,
    )
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    t0 = time.monotonic()
    with root_dir() as tmp:
        out = asyncio.run(run(args, Path(tmp)))
    smoke = args.streams < 5000 or args.hold_s < 60
    text = markdown(args, out, started, time.monotonic() - t0, smoke)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0 if out.errors == 0 and out.opened == out.streams else 1


if __name__ == "__main__":
    sys.exit(main())
