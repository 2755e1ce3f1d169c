"""Side by side with the alternatives (issue 22): what each proxy adds to a request, in one
run, with the same instant upstream and the same load generator.

Targets, each its own process on a free port:
- direct: the instant upstream itself (bench/instant_upstream.py), what the others add to;
- floor: the minimal aiohttp pass-through (bench/floor_proxy.py), no measurement at all;
- inferwatch: the agent (`python -m agent.cli up --upstream URL`), every default feature on
  (store, cost, safety, metrics);
- litellm: the LiteLLM proxy from its own virtual environment (bench/.peers-venv, made by
  `--setup`), one worker, its leanest configuration (bench/peers_litellm.py).

Pinning (when this process may use two CPUs or more): this process (the load generator:
aiohttp on uvloop, closed-loop workers) and the upstream on the first CPU, every proxy on
the second, so that proxies never compete with the load for a core, only with each other's
idle moments (they take turns).

Scenarios: concurrency 1 and --high-concurrency (32), each non-streamed (whole-response
latency) and streamed (time to first chunk, 16-chunk streams). Every round sends each
target one batch of each scenario in turn: direct first, then the proxies in an order
rotated each round; a warm-up round is discarded (bench/shadow_run.py). Figures over the
pooled kept rounds, ratios with 95% two-stage bootstrap intervals, and the targets of issue
22 judged on them (bench/peers_report.py). The machine's load during the run is stated:
load average, and the CPU time of all other work beside the benchmark's own processes.

    python bench/peers.py --setup      # once: LiteLLM into bench/.peers-venv (PyPI)
    python bench/peers.py              # the full run, ~6 minutes on a quiet 2-core machine
    python bench/peers.py --dry-run    # the estimate only
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import peers_litellm, peers_run  # noqa: E402
from bench.shadow_overhead import listed  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "peers.md"
TARGETS = ("floor", "inferwatch", "litellm")
DEFAULTS = {"rounds": 6, "requests_c1": 800, "requests_high": 1600}
NUMBERS = [  # option, default, what it is
    ("--rounds", DEFAULTS["rounds"], "kept rounds (a multiple of 3 puts each proxy in each "
     "slot equally often)"),
    ("--requests-c1", DEFAULTS["requests_c1"], "requests per target per batch at concurrency 1"),
    ("--requests-high", DEFAULTS["requests_high"],
     "requests per target per batch at the high concurrency"),
    ("--high-concurrency", 32, "the high concurrency: closed-loop clients"),
    ("--tokens", 16, "chunks per streamed answer"),
    ("--boot", 1000, "bootstrap resamples per scenario and baseline"),
]  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked (a clear error for a bad value)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--setup", action="store_true",
                   help="create bench/.peers-venv and pip-install litellm[proxy] into it, then "
                   "exit (the project's own environment is never touched)")  # fmt: skip
    p.add_argument("--litellm-version", default=peers_litellm.VERSION,
                   help=f"with --setup: the litellm release (default {peers_litellm.VERSION})")  # fmt: skip
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"proxies to compare, from {', '.join(TARGETS)} (default all; the "
                   "floor is always one: ratios are to it)")  # fmt: skip
    for option, default, says in NUMBERS:
        p.add_argument(option, type=int, default=default, help=f"{says} (default {default})")
    p.add_argument("--no-pin", action="store_true",
                   help="leave CPU affinity alone (default: load and upstream on one CPU, "
                   "proxies on another)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true",
                   help="print the estimated wall time and exit")  # fmt: skip
    p.add_argument("--markdown", type=Path, default=RESULTS, help=f"table file (default {RESULTS})")
    args = p.parse_args(argv)
    args.proxies = listed(p, "--targets", args.targets, TARGETS)
    if "floor" not in args.proxies:
        p.error("--targets must name the floor: ratios are to it")
    if args.rounds < 2 or args.boot < 100 or min(args.requests_c1, args.requests_high) < 4:
        p.error("--rounds must be at least 2, --boot at least 100, requests at least 4")
    if args.high_concurrency < 2:
        p.error("--high-concurrency must be at least 2")
    args.smoke = any(getattr(args, k) < v for k, v in DEFAULTS.items())
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.setup:
        version = peers_litellm.setup(version=args.litellm_version)
        print(f"litellm {version} in {peers_litellm.VENV}")
        return 0
    if "litellm" in args.proxies and peers_litellm.installed() is None:
        print(
            f"LiteLLM is not installed in {peers_litellm.VENV}: run `python bench/peers.py "
            "--setup` first, or leave it out with `--targets floor,inferwatch`",
            file=sys.stderr,
        )
        return 2
    print(peers_run.estimate_line(args), file=sys.stderr)
    if args.dry_run:
        return 0
    text = peers_run.run(argv, args)
    args.markdown.write_text(text)
    print(text)
    print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
