"""What a shadow experiment costs the primary requests: their client-side latency through
an agent with no experiment, and through agents that copy every request (fraction 1.0) to
a second upstream, in `after` and `parallel` mode, side by side in one run.

Processes: two stand-in upstreams (bench/paced_upstream.py, `control` and `candidate`, each
its own process), an agent per configuration (`python -m agent.cli up --config FILE` from
this checkout; all list the same two upstreams, only `experiments:` differs; store, cost
and safety on as by default) and this process as the one load generator (aiohttp on
uvloop, closed-loop workers sending streamed chat completions).

Loads (scenarios):
- instant: the upstreams answer at once (16-token streams), the worst case: the agent is
  the only thing to wait for, so its doubled relaying shows fully;
- paced: the upstreams pace their streams like a model server (first token after
  --ttft-ms, then one each --itl-ms; 32 tokens), a realistic load: the agent mostly waits.

Every round sends each target a batch in turn: the control upstream directly first (what
the agent adds is measured against it), then the agents in an order rotated each round.
After each batch the harness waits 0.3 s so that the copies it launched end before the
next batch; the agent's CPU over the batch and that pause is charged to it. A warm-up round
is discarded.

Figures, per configuration, over the pooled kept rounds: latency p50/p99 (whole stream),
first chunk p50/p99, added p50/p99 (the agent's percentile minus direct's), the agent's
`x-inferwatch-overhead-ms` header p50, agent CPU ms per primary request (its copies
included). Each against the baseline (`off`): the ratio and a 95% two-stage bootstrap
interval (rounds, then requests within them; bench/shadow_stats.py). A ratio whose interval
holds 1.00 is within noise. `--configs off,off2,...` adds a second agent without an
experiment: off2/off is the noise floor, measured.

    python bench/shadow_overhead.py                    # both loads, ~5 min here
    python bench/shadow_overhead.py --load paced --rounds 12
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import uvloop
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import ab_load, shadow_run  # noqa: E402
from bench.proxy_report import table  # noqa: E402
from bench.shadow_stats import DIRECT, Row, compare, errors_row  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "shadow_overhead.md"
CONFIGS = ("off", "off2", "after", "parallel")
VERDICT_FIGURES = ("latency p50 ms", "latency p99 ms", "first chunk p99 ms")


def listed(p: argparse.ArgumentParser, option: str, value: str, known) -> list[str]:
    """A comma-separated option's names, each known and each once (else a clear error)."""
    names = [c.strip() for c in value.split(",") if c.strip()]
    if bad := [c for c in names if c not in known]:
        p.error(f"{option}: unknown {', '.join(bad)} (known: {', '.join(known)})")
    if len(set(names)) != len(names):
        p.error(f"{option}: name each once")
    return names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked (a clear error for a bad value)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--load", choices=["instant", "paced", "both"], default="both",
                   help="which upstream pace to run (default both)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=9,
                   help="kept rounds (default 9; a multiple of the agents' number puts each "
                   "agent in each slot equally often)")  # fmt: skip
    p.add_argument("--configs", default="off,after,parallel",
                   help=f"agents, the first the baseline; from {', '.join(CONFIGS)} "
                   "(default off,after,parallel)")  # fmt: skip
    p.add_argument("--concurrency", type=int, default=None,
                   help="closed-loop clients (default 4 instant, 8 paced)")  # fmt: skip
    p.add_argument("--requests", type=int, default=None,
                   help="requests per target per batch (default 300 instant, 160 paced)")  # fmt: skip
    p.add_argument("--ttft-ms", type=float, default=20.0,
                   help="paced: the upstreams' time to first token (default 20)")  # fmt: skip
    p.add_argument("--itl-ms", type=float, default=2.0,
                   help="paced: the upstreams' time between tokens (default 2)")  # fmt: skip
    p.add_argument("--max-in-flight", type=int, default=16,
                   help="the experiment's shadow.max_in_flight (default 16, the agent's)")  # fmt: skip
    p.add_argument("--boot", type=int, default=2000,
                   help="bootstrap resamples per scenario (default 2000)")  # fmt: skip
    p.add_argument("--markdown", type=Path, default=RESULTS, help=f"table file (default {RESULTS})")
    args = p.parse_args(argv)
    args.agents = listed(p, "--configs", args.configs, CONFIGS)
    if len(args.agents) < 2:
        p.error("--configs needs a baseline and at least one other, each once")
    if args.rounds < 2 or args.boot < 100:
        p.error("--rounds must be at least 2 and --boot at least 100")
    args.loads = ["instant", "paced"] if args.load == "both" else [args.load]
    return args


def load_of(name: str, args: argparse.Namespace) -> shadow_run.Load:
    """The scenario of one load: tokens, concurrency and batch size."""
    tokens, conc, n = (16, 4, 300) if name == "instant" else (32, 8, 160)
    conc, n = args.concurrency or conc, args.requests or n
    body = ab_load.chat_body("instant", True, tokens)
    return shadow_run.Load(f"{name} c{conc} stream", body, n, conc)


def run_load(name: str, args: argparse.Namespace, bar: tqdm) -> tuple[list[Row], list[str]]:
    """One load's upstreams and agents up, its rounds, its rows and notes; all stopped."""
    load = load_of(name, args)
    pace = (0.0, 0.0) if name == "instant" else (args.ttft_ms, args.itl_ms)
    with shadow_run.servers(args.agents, *pace, args.max_in_flight) as (urls, agents):

        def tick(text: str) -> None:
            bar.set_postfix_str(text)
            bar.update()

        rounds, loadavg = uvloop.run(shadow_run.run_rounds(urls, agents, load, args.rounds, tick))
        outcomes = {c: shadow_run.shadow_outcomes(a) for c, a in agents.items()}
    rows = compare(load.label, rounds, args.agents[0], args.boot) + [errors_row(load.label, rounds)]
    args.loadavg += loadavg
    copies = "; ".join(
        f"{c} {', '.join(f'{k} {v}' for k, v in sorted(o.items()))}"
        for c, o in outcomes.items()
        if o
    )
    note = (
        f"{load.label}: {load.requests} requests a batch, upstream first token "
        f"{pace[0]:g} ms, then one per {pace[1]:g} ms; shadow copies (warm-up included): {copies}"
    )
    return rows, [note]


def verdicts(rows: list[Row], agents: list[str]) -> list[str]:
    """Plain lines: for each scenario and headline figure, each agent against the baseline."""
    out = []
    for row in rows:
        if row.name not in VERDICT_FIGURES:
            continue
        parts = []
        for t, iv in row.ratios.items():
            word = "within noise" if iv is not None and iv.holds_one else "beyond noise"
            parts.append(f"{t}/{agents[0]} {iv} {word}" if iv else f"{t}: -")
        out.append(f"- {row.scenario}, {row.name.removesuffix(' ms')}: {'; '.join(parts)}")
    return out


def render(rows: list[Row], agents: list[str], markdown: bool) -> str:
    """The rows as a markdown table or aligned text."""
    targets = [DIRECT, *agents]
    cols = ["scenario", "figure", *targets, *(f"{t}/{agents[0]} [95% CI]" for t in agents[1:])]

    def cells(r: Row) -> list[str]:
        vals = [f"{r.values[t]:.3f}" if t in r.values and r.values[t] == r.values[t] else "-"
                for t in targets]  # fmt: skip
        return [r.scenario, r.name, *vals, *(str(r.ratios.get(t) or "-") for t in agents[1:])]

    return table(cols, [cells(r) for r in rows], markdown)


def header(argv, args, t0: float, notes: list[str]) -> list[str]:
    """How the figures were made: command, machine, noise, loads."""
    cmd = shlex.join(["python", "bench/shadow_overhead.py", *argv])
    la = args.loadavg or [args.load0]
    return [
        f"command: `{cmd}`  ",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; "
        f"{args.rounds} kept rounds + 1 warm-up; run took {time.monotonic() - t0:.0f} s  ",
        f"noise: load average {args.load0:.1f} before; {min(la):.1f}-{max(la):.1f} during "
        "(1-minute, read after each batch)  ",
        *(f"{n}  " for n in notes),
    ]


def report(argv, args, t0: float, rows: list[Row], notes: list[str]) -> str:
    """The markdown file's text: how the figures were made, the verdicts, the table."""
    body = [
        "# Shadow experiments: what the copies cost the primary requests",
        "",
        *header(argv, args, t0, notes),
        "",
        "Ratios to the baseline over the pooled kept rounds, with 95% two-stage bootstrap "
        "intervals (rounds, then requests): an interval holding 1.00 is within noise.",
        "",
        *verdicts(rows, args.agents),
        "",
        render(rows, args.agents, markdown=True),
    ]
    return "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    t0, args.load0, args.loadavg = time.monotonic(), os.getloadavg()[0], []
    rows: list[Row] = []
    notes: list[str] = []
    total = len(args.loads) * (args.rounds + 1) * (len(args.agents) + 1)
    with tqdm(total=total, unit="batch", file=sys.stderr) as bar:
        for name in args.loads:
            got, note = run_load(name, args, bar)
            rows, notes = rows + got, notes + note
            args.markdown.write_text(report(argv, args, t0, rows, notes))
    print("\n".join(line.rstrip() for line in header(argv, args, t0, notes)))
    print("\n".join(verdicts(rows, args.agents)))
    print(render(rows, args.agents, markdown=False))
    print(f"wrote {args.markdown}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
