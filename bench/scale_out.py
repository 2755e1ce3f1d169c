"""Scale-out simulation: N inferwatch agents (each its own process, store and stand-in GPUs)
in front of one scripted upstream, scraped by one real Prometheus and shipping to one
Elasticsearch-API emulator (noida-db, not Elasticsearch). The fleet grows step by step
(1, 2, 4, 8, 16 by default) in one run; each step drives the same traffic mix per agent
and reads what the central systems hold, so every figure is printed beside its ratio to
the smallest fleet.

    python bench/scale_out.py                 # about 5-7 minutes on 2 cores
    python bench/scale_out.py --steps 1,2 --seconds 10    # smoke run, about a minute

Writes bench/results/scale_out.md (and a PNG with --plot). See docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale_report import growth_table, per_sidecar  # noqa: E402
from bench.scale_run import Outcome, run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every option explained in --help."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--steps",
        default="1,2,4,8,16",
        help="fleet sizes, in growing order, comma-separated (default 1,2,4,8,16)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=3.0,
        help="requests per second sent to EACH agent during a step (default 3)",
    )
    p.add_argument(
        "--seconds", type=float, default=20.0, help="traffic time per step, seconds (default 20)"
    )
    p.add_argument(
        "--gpus",
        type=int,
        default=8,
        help="stand-in GPUs each agent sees through tests/nvml_stub, 1-8 (default 8)",
    )
    p.add_argument(
        "--tenants",
        type=int,
        default=60,
        help="distinct tenants in the mix; above the agent's cap of 50, so the "
        "`other` label is used (default 60)",
    )
    p.add_argument(
        "--scrape-interval",
        type=float,
        default=5.0,
        help="Prometheus scrape interval, seconds (default 5; fleets use 15-30: "
        "series do not depend on it, samples per day do, see docs/scale-out.md)",
    )
    p.add_argument(
        "--block-seconds",
        type=int,
        default=60,
        help="Prometheus head block length, seconds (default 60, so a compacted "
        "block exists within the run and bytes per sample can be read)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="longest wait for every document to reach the emulator (default 60)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench/results/scale_out.md",
        help="markdown result file (default bench/results/scale_out.md)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="also draw growth with N into this PNG (e.g. docs/scale-out-growth.png)",
    )
    p.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the label sweep that sends each new agent every (tenant, model, operation, "
        "outcome) combination once, bringing it to its steady-state series at the caps "
        "(51 tenant labels x 4 models x 2 operations x ok/error: 816 requests an agent)",
    )
    p.add_argument("--seed", type=int, default=19, help="random seed of the traffic mix")
    args = p.parse_args(argv)
    args.sizes = [int(x) for x in args.steps.split(",")]
    if args.sizes != sorted(set(args.sizes)) or args.sizes[0] < 1:
        p.error("--steps: distinct positive sizes in growing order, e.g. 1,2,4")
    if not 1 <= args.gpus <= 8:
        p.error("--gpus: 1 to 8")
    return args


def markdown(args, out: Outcome, started: str, load: tuple, elapsed: float) -> str:
    """The result file: command, conditions, the growth table, per-sidecar figures."""
    argv = " ".join(sys.argv[1:])
    lines = [
        "# Scale-out simulation (issue 19)",
        "",
        f"Command: `python bench/scale_out.py {argv}`".replace(" `", "`").replace(":`", ": `"),
        f"Run: {started} UTC, {elapsed:.0f} s, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end "
        f"({platform.node()}).",
        f"Each agent: its own process and store, {args.gpus} stand-in GPUs (tests/nvml_stub), "
        "the vLLM collector reading the scripted upstream's captured vLLM 0.32 page; "
        f"{args.rate:g} requests/s per agent for {args.seconds:g} s a step, "
        f"{args.tenants} tenants (cap 50), 4 models, half the chats streamed, ~3% upstream "
        "errors, ~5% with an email (redacted) and ~1% with a key (blocked). "
        f"Prometheus {_prom_version()} scraping every {args.scrape_interval:g} s; "
        "Elasticsearch is the noida-db emulator (its store size is not Elasticsearch's).",
        f"Requests sent: {out.requests:,} ({out.failed:,} answered with an error, as scripted).",
        "",
        "## Growth with N (ratio to the first row, same run)",
        "",
        growth_table(out.steps),
        "",
        "## Per sidecar (largest fleet)",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {k} | {v:,.1f} |" for k, v in per_sidecar(out.steps).items()],
        "",
        f"/metrics asked for with `Accept-Encoding: gzip` was answered `{out.encoding}`. "
        "The shipper lag gauge is sampled (the agent every 2 s, Prometheus every scrape) and "
        "misses short backlogs: read `drain s` (traffic stopped -> every document in the "
        "emulator) for shipping delay.",
        "",
        "One agent's series by group: "
        + ", ".join(f"{k} {v}" for k, v in sorted(out.groups.items(), key=lambda kv: -kv[1])),
        "",
        _blocks(out.blocks),
    ]
    return "\n".join(lines) + "\n"


def _blocks(b: dict | None) -> str:
    if not b:
        return "No compacted Prometheus block within the run: bytes per sample not measured."
    per = b["chunk_bytes"] / max(b["samples"], 1)
    return (
        f"Compacted Prometheus blocks: {b['blocks']}, {b['samples']:,} samples of "
        f"{b['series']:,} series; chunks {b['chunk_bytes']:,} bytes = {per:.2f} bytes/sample "
        f"({b['block_bytes'] / max(b['samples'], 1):.2f} with index and metadata)."
    )


def _prom_version() -> str:
    text = subprocess.run(["prometheus", "--version"], capture_output=True, text=True).stdout
    return text.split()[2] if text else "?"


def main(argv: list[str] | None = None) -> int:
    """Run the simulation, print and save the result."""
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load, t0 = os.getloadavg(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="inferwatch-scale-") as tmp:
        out = asyncio.run(run(args, Path(tmp)))
    text = markdown(args, out, started, load, time.monotonic() - t0)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.plot:
        from bench.scale_plot import plot

        plot(out.steps, args.plot)
    return 0 if all(not math.isnan(s.drain_s) for s in out.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
