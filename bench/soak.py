"""Soak: the agent for `--minutes` (default 30) at a steady mixed load with everything on
(issue 22, "for hours"). Traffic: the scale-out simulation's mix (bench/scale_traffic.py:
several tenants and models, chat and completions, half the chats streamed, ~3% scripted
upstream errors, emails redacted and keys blocked by safety) at `--rate` requests a second,
open loop, from the scripted upstream (tests/fake_upstream.py). The agent: cost and safety
on, its SQLite store shipping to the Elasticsearch-API emulator (noida-db), detectors and
the alert engine every `--alerts-interval-s`; a refreshing dashboard beside it
(bench/soak_dashboard.py: the pages' data calls against the live store).

Every `--sample-s`: agent RSS, open FDs, the store's WAL size, the p99 of the requests
answered since the last sample, and the backlog gauges of /metrics. At the end the traffic
stops, the agent drains, and the records of every answered request are counted in the
store and in the emulator.

Verdicts (issue 22): RSS growth after warm-up < 5%, FDs flat, WAL bounded, p99 of the last
`--compare-minutes` within 10% of the first after the warm-up, no record lost. A run
shorter than four windows cuts the warm-up and the windows to a quarter of it each (a
smoke run).

    python bench/soak.py                    # 30 minutes of traffic, about 31-33 minutes
    python bench/soak.py --minutes 1        # smoke run, about 1.5 minutes

Writes bench/results/soak.md and bench/results/soak.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.soak_report import plot, verdicts, windows  # noqa: E402
from bench.soak_run import Soak, run  # noqa: E402
from bench.soak_stalls import summary  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STARTUP_S = 20  # emulator and agent up, teardown


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every option explained in --help."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=30.0, help="minutes of traffic (default 30)")
    p.add_argument(
        "--rate", type=float, default=20.0, help="requests per second, open loop (default 20)"
    )
    p.add_argument("--tenants", type=int, default=8, help="distinct tenants in the mix (default 8)")
    p.add_argument(
        "--chunk-delay-s",
        type=float,
        default=0.01,
        help="the upstream's pause between two chunks of a stream (default 0.01)",
    )
    p.add_argument(
        "--sample-s", type=float, default=5.0, help="seconds between samples (default 5)"
    )
    p.add_argument(
        "--warmup-minutes",
        type=float,
        default=5.0,
        help="left out of the RSS, FD, WAL and p99 verdicts (default 5)",
    )
    p.add_argument(
        "--compare-minutes",
        type=float,
        default=5.0,
        help="length of the windows compared: the first after the warm-up, and the last "
        "(default 5)",
    )
    p.add_argument(
        "--alerts-interval-s",
        type=float,
        default=15.0,
        help="the detectors' evaluation interval (alerts.interval_s; default 15)",
    )
    p.add_argument(
        "--dashboard-interval-s",
        type=float,
        default=10.0,
        help="seconds between two dashboard refreshes (default 10)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=180.0,
        help="longest wait after the traffic for every record to be in the store and the "
        "emulator (default 180)",
    )
    p.add_argument(
        "--stall-ms",
        type=float,
        default=50.0,
        help="the stall watch's threshold: an event loop's heartbeat late by more than this "
        "is a stall, noted with its stack, GCs and CPU (default 50)",
    )
    p.add_argument(
        "--stall-dir",
        type=Path,
        help="keep the stall diagnostic's raw lines (agent-stalls.jsonl, bench-stalls.jsonl: "
        "gaps, CPU, garbage collections, stacks) in this folder (default: not kept)",
    )
    p.add_argument("--seed", type=int, default=22, help="random seed of the traffic mix")
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench/results/soak.md",
        help="markdown result file (default bench/results/soak.md)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=REPO / "bench/results/soak.png",
        help="the picture of RSS, FDs, p99, backlog and WAL (default bench/results/soak.png)",
    )
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if args.minutes <= 0 or args.rate <= 0 or args.sample_s <= 0:
        p.error("--minutes, --rate and --sample-s must be positive")
    return args


def markdown(args, soak: Soak, w, started: str, elapsed: float, load: tuple) -> str:
    """The result file: command, conditions, the verdict table, the picture."""
    rows = verdicts(soak, w)
    smoke = args.minutes < 30
    lines = [
        "# Soak (issue 22)",
        "",
        *(["**Smoke-sized run, not the measurement.**", ""] if smoke else []),
        f"Command: `{' '.join(['python bench/soak.py', *args.argv])}`",
        f"Run: {started} UTC, {elapsed / 60:.1f} minutes, {os.cpu_count()} cores "
        f"({platform.node()}), 1-minute load {load[0]:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end.",
        f"Load: {args.rate:g} requests/s for {soak.traffic_s / 60:.1f} minutes, "
        f"{soak.sent:,} sent, {soak.answered:,} answered ({soak.failed} with no answer), "
        f"{args.tenants} tenants; detectors every {args.alerts_interval_s:g} s; "
        f"{len(soak.refreshes)} dashboard refreshes (median "
        f"{_median(soak.refreshes):.2f} s). Warm-up {w.warmup_s / 60:.1f} min; windows "
        f"compared {w.compare_s / 60:.1f} min; drained in {soak.drain_s:.1f} s.",
        "",
        "| target | first window | last window / end | met |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {'yes' if ok else 'NO'} |" for a, b, c, ok in rows],
        "",
        "",
        f"Stalls (agent/stallwatch.py: an event loop's heartbeat late by over "
        f"{args.stall_ms:g} ms):",
        "",
        *summary(soak.stalls, [s.p99_ms for s in soak.samples], args.stall_ms),
        "",
        f"![RSS, FDs, p99, backlog and WAL over time]({_rel(args.plot)})",
    ]
    return "\n".join(lines) + "\n"


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else float("nan")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return path.name


def main(argv: list[str] | None = None) -> int:
    """Run the soak, print and save the result and the picture."""
    args = parse_args(argv)
    eta = STARTUP_S + args.minutes * 60
    print(
        f"soak: {args.minutes:g} minutes of traffic, about {(eta + 15) / 60:.1f} minutes in "
        f"all (up to {(eta + args.drain_timeout) / 60:.1f} if the drain is slow)",
        flush=True,
    )
    started, load = time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.getloadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inferwatch-soak-") as tmp:
        soak = asyncio.run(run(args, Path(tmp)))
    w = windows(soak, args.warmup_minutes * 60, args.compare_minutes * 60)
    text = markdown(args, soak, w, started, time.monotonic() - t0, load)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    plot(soak, w, args.plot)
    print(f"wrote {args.out} and {args.plot}")
    return 0 if all(ok for *_, ok in verdicts(soak, w)) else 1


if __name__ == "__main__":
    sys.exit(main())
