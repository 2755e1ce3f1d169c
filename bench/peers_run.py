"""The run of the side-by-side benchmark (bench/peers.py): its wall-time estimate, the
servers (pinned), the interleaved rounds of each scenario, the machine's load, the report."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import psutil
import uvloop
from tqdm import tqdm

from bench import ab_load, peers_litellm, peers_report, proxy_procs, shadow_run
from bench.proxy_procs import Server
from bench.shadow_stats import DIRECT, Row

# Requests/s each target kept up on this 2-core machine beside other work (smoke runs),
# rounded down: (concurrency 1, high) x (json, stream). Only for the estimate.
RATES = {
    "direct": ((1500, 1500), (4000, 4000)),
    "floor": ((800, 700), (2500, 2000)),
    "inferwatch": ((500, 400), (1500, 1200)),
    "litellm": ((250, 180), (220, 70)),
}
START_S = 30.0  # servers up, LiteLLM's import included
BOOT_S_PER_1000 = 15.0  # the bootstrap of all scenarios, per 1000 resamples


def scenarios(args: argparse.Namespace) -> list[tuple[int, bool, int]]:
    """(concurrency, stream, requests per batch) of each scenario, in run order."""
    c1, high = (1, args.requests_c1), (args.high_concurrency, args.requests_high)
    return [(c, s, n) for c, n in (c1, high) for s in (False, True)]


def estimate_s(args: argparse.Namespace) -> float:
    """Seconds the run should take here: batches at RATES, the pause after each, start-up."""
    total = START_S + BOOT_S_PER_1000 * args.boot / 1000
    for c, stream, n in scenarios(args):
        for t in [DIRECT, *args.proxies]:
            rate = RATES[t][c > 1][stream]
            total += (args.rounds + 1) * (n / rate + shadow_run.SETTLE_S)
    return total


def estimate_line(args: argparse.Namespace) -> str:
    est = estimate_s(args)
    return (
        f"estimated wall time: {est / 60:.1f} min ({est:.0f} s; at the rates seen on a "
        "2-core machine beside other work; a busier machine is slower)"
    )


def cpus() -> tuple[set[int], set[int]] | None:
    """(load generator and upstream, proxies): two CPUs this process may use, or None."""
    mine = sorted(os.sched_getaffinity(0))
    return ({mine[0]}, {mine[1]}) if len(mine) >= 2 else None


@contextmanager
def servers(args: argparse.Namespace, tmp: Path):
    """The upstream and every proxy, pinned; all stopped afterwards: (upstream, proxies)."""
    split = None if args.no_pin else cpus()
    if split:  # before anything starts: the upstream inherits this process's CPU
        os.sched_setaffinity(0, split[0])
    with ExitStack() as stack:

        def kept(server: Server) -> Server:
            stack.callback(proxy_procs.stop, server)
            if split:
                proxy_procs.pin(server, split[1])
            return server

        up = proxy_procs.start_upstream()
        stack.callback(proxy_procs.stop, up)
        proxies = {"floor": kept(proxy_procs.start_floor(up.url))}
        if "inferwatch" in args.proxies:
            agent = proxy_procs.start_agent("inferwatch", up.url, proxy_procs.REPO)
            proxies["inferwatch"] = kept(agent)
        if "litellm" in args.proxies:
            proxies["litellm"] = kept(peers_litellm.start_litellm(up.url, tmp))
        yield up, proxies, split


class Machine:
    """The machine's load over the run: load averages, and the CPU seconds of all other
    work (the machine's busy time less that of the benchmark's own processes)."""

    def __init__(self) -> None:
        self.t0, self.load0 = time.monotonic(), os.getloadavg()[0]
        self.busy0, self.loads = self._busy(), [self.load0]

    @staticmethod
    def _busy() -> float:
        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def sample(self) -> None:
        self.loads.append(os.getloadavg()[0])

    def line(self, ours_s: float) -> str:
        """A sentence on the load, given the CPU seconds the benchmark's processes used."""
        wall = time.monotonic() - self.t0
        other = max(0.0, self._busy() - self.busy0 - ours_s) / wall
        return (
            f"machine load: load average {self.load0:.1f} before, {min(self.loads):.1f}-"
            f"{max(self.loads):.1f} during (1-minute, read after each batch); other work "
            f"beside the benchmark's processes used {other:.2f} of {psutil.cpu_count()} CPUs"
        )


def _cpu_s(procs: list[Server]) -> float:
    me = psutil.Process().cpu_times()
    return me.user + me.system + sum(s.cpu_s() for s in procs)


def measure(args, proxies: dict[str, Server], urls: dict[str, str], machine: Machine, bar):
    """Every scenario's rounds: [peers_report.Scenario], and each proxy's peak RSS (MB)."""
    out, rss = [], {t: 0.0 for t in proxies}
    for c, stream, n in scenarios(args):
        label = f"c{c} {'stream' if stream else 'json'}"
        body = ab_load.chat_body(peers_litellm.MODEL, stream, args.tokens)
        load = shadow_run.Load(label, body, n, c)

        def tick(text: str) -> None:
            machine.sample()
            bar.set_postfix_str(text)
            bar.update()

        kept, _ = uvloop.run(shadow_run.run_rounds(urls, proxies, load, args.rounds, tick))
        out.append(peers_report.Scenario(label, c, stream, kept))
        rss = {t: max(rss[t], s.rss() / 2**20) for t, s in proxies.items()}
    return out, rss


def run(argv: list[str], args: argparse.Namespace) -> str:
    """The whole run; returns the report (markdown)."""
    machine = Machine()
    total = len(scenarios(args)) * (args.rounds + 1) * (len(args.proxies) + 1)
    with (
        tempfile.TemporaryDirectory(prefix="peers-") as tmp,
        servers(args, Path(tmp)) as (
            up,
            proxies,
            split,
        ),
    ):
        urls = {DIRECT: up.url, **{t: proxies[t].url for t in args.proxies}}
        with tqdm(total=total, unit="batch", file=sys.stderr) as bar:
            scens, rss = measure(args, proxies, urls, machine, bar)
        load = machine.line(_cpu_s([up, *proxies.values()]))
    rows = [r for s in scens for r in peers_report.rows(s, args.boot)]
    rows += [errors(scens)]
    return report(argv, args, machine, load, split, rows, rss)


def errors(scens: list[peers_report.Scenario]) -> Row:
    """Failed requests per target over every kept round of every scenario."""
    targets = list(scens[0].rounds[0])
    n = {t: float(sum(len(r[t].errors) for s in scens for r in s.rounds)) for t in targets}
    return Row("all", "failed requests", n, {})


def report(argv, args, machine: Machine, load: str, split, rows: list[Row], rss) -> str:
    """The markdown file: how the figures were made, the targets judged, the table."""
    cmd = shlex.join(["python", "bench/peers.py", *argv])
    pin = "not pinned" if split is None else (
        f"load generator and upstream on CPU {min(split[0])}, every proxy on CPU {min(split[1])}"
    )  # fmt: skip
    smoke = ["**Smoke-sized run** (fewer rounds or requests than the defaults): the figures "
             "show the harness works; they are not the benchmark's result.", ""]  # fmt: skip
    targets = [DIRECT, *args.proxies]
    return "\n".join([
        "# Side by side with the alternatives (bench/peers.py)", "",
        *(smoke if args.smoke else []),
        f"command: `{cmd}`  ",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs, "
        f"{pin}; {args.rounds} kept rounds + 1 warm-up; run took "
        f"{time.monotonic() - machine.t0:.0f} s (estimated {estimate_s(args):.0f} s)  ",
        f"{load}  ",
        f"versions: Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}"
        + (f", LiteLLM {peers_litellm.installed()}" if "litellm" in targets else "") + "  ",
        f"batches: {args.requests_c1} requests at concurrency 1, {args.requests_high} at "
        f"{args.high_concurrency}; streams of {args.tokens} chunks  ",
        "RSS, peak after a scenario (MB): " + ", ".join(f"{t} {v:.0f}" for t, v in rss.items()),
        "",
        "Targets (issue 22), judged on inferwatch's ratio and its 95% bootstrap interval:", "",
        *peers_report.verdicts(rows, args.high_concurrency), "",
        "Streamed scenarios time the first chunk; added = a target's percentile minus "
        "direct's. Ratios over the pooled kept rounds, 95% two-stage bootstrap intervals.", "",
        peers_report.render(rows, targets, markdown=True),
    ]) + "\n"  # fmt: skip
