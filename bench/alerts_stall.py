"""Does alerts evaluation stall the agent? The proxy's latency while detectors run.

An agent (`python -m agent.cli up`, its own process) sits in front of the instant
upstream (bench/instant_upstream.py) with a store pre-filled with `--records` synthetic
request records spread over a reference window and a current window (realistic tenants,
models, token counts, latencies and costs; inserted with the store's own INSERT_SQL and
row function, in one transaction). This process sends steady load at `--rate` requests a
second for `--seconds` (half streamed, half not; open loop: request i is sent at i/rate
whatever the earlier ones do) and times every request to the end of its body.

Four modes, one after the other, in one run (a fresh agent each, same store):

- `off`: alerts disabled (the baseline);
- `on`: alerts enabled as shipped: drift and cost evaluate in a spawned child process
  (alerts.worker.EvaluationWorker) in Linux's SCHED_IDLE class (`alerts.idle_priority`),
  `alerts.interval_s` apart (1 s: back to back);
- `normal`: as `on`, but the child at normal priority (`alerts.idle_priority: false`):
  what the scheduling class buys;
- `thread`: alerts enabled, but the service's worker replaced by one that runs the same
  `alerts.evaluator.build(...)` then `.run(now, inputs)` in a thread of the agent's own
  process: what the child process buys.

Before the load of an alerts mode the first evaluation (which reads every record for the
cost series) is waited for, so the load sees the steady state. Printed per mode: p50,
p99 and max latency (ms), errors, evaluations that ran during the load and how long the
last one took per detector (inferwatch_alert_evaluation_duration_seconds), the peak RSS
of the agent and of its evaluation child, the CPU seconds a second of each during the
load, the 1-minute load average before and after it, and how long the agent took to exit
on SIGTERM with how many of its children outlived it; then the ratios p99(mode)/p99(off).

Run: `python bench/alerts_stall.py [--records 1000000] [--rate 100] [--seconds 60]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = ("off", "on", "normal", "thread")
STORE_FILE = "requests.sqlite3"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="synthetic records pre-filled, half in each window (default 1000000)",
    )
    p.add_argument(
        "--window-s",
        type=float,
        default=3600.0,
        help="alerts.drift.window_s and reference_s; the records span twice this, ending "
        "at the start of the run (default 3600)",
    )
    p.add_argument(
        "--interval-s", type=float, default=1.0, help="alerts.interval_s (default 1: back to back)"
    )
    p.add_argument("--rate", type=float, default=100.0, help="requests a second (default 100)")
    p.add_argument("--seconds", type=float, default=60.0, help="load per mode, s (default 60)")
    p.add_argument(
        "--stream-share", type=float, default=0.5, help="share of streamed requests (default 0.5)"
    )
    p.add_argument(
        "--tokens", type=int, default=16, help="chunks a streamed answer has (default 16)"
    )
    p.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated modes to run, in order (default {','.join(MODES)})",
    )
    p.add_argument(
        "--first-eval-timeout-s",
        type=float,
        default=600.0,
        help="how long to wait for an alerts mode's first evaluation (default 600)",
    )
    p.add_argument(
        "--keep-store",
        metavar="DIR",
        help="pre-fill the store in DIR and keep it (default: a temporary folder, removed)",
    )
    p.add_argument(
        "--stop-timeout-s",
        type=float,
        default=60.0,
        help="how long an agent may take to exit after SIGTERM before it is killed; the "
        "time it took and the children it left running are printed (default 60)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic records (0)")
    return p.parse_args(argv)


# ---- the agent in `thread` mode: the evaluator in a thread of the agent's process ------


class ThreadWorker:
    """EvaluationWorker's interface, but `factory()` and `run` in a thread of this process."""

    def __init__(self, factory, idle: bool = True) -> None:
        self._factory = factory  # `idle` is ignored: the agent's own thread keeps its class
        self._evaluator = None

    async def run(self, now: float, inputs: dict):
        return await asyncio.to_thread(self._run, now, inputs)

    def _run(self, now: float, inputs: dict):
        if self._evaluator is None:
            self._evaluator = self._factory()
        return self._evaluator.run(now, inputs)

    def close(self) -> None:
        self._evaluator = None


def patched_agent_main(flag: str, argv: list[str]) -> int:
    """`inferwatch <argv>` with alerts.service's worker replaced by ThreadWorker."""
    import alerts.service
    from agent.cli import main

    alerts.service.EvaluationWorker = ThreadWorker
    return main(argv)


# ---- the pre-filled store ------------------------------------------------------------

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")
TENANT_WEIGHTS = (0.30, 0.20, 0.15, 0.10, 0.10, 0.07, 0.05, 0.03)
MODELS = ("llama-3.1-8b", "qwen2.5-7b", "mistral-7b")
MODEL_PRICE = (0.0002, 0.00015, 0.0001)  # currency per 1k tokens, prompt and completion


def prefill(path: Path, n: int, start: float, end: float, currency: str, seed: int) -> float:
    """Write `n` records with wall_time in [start, end) to a new store at `path`, in one
    transaction with the store's INSERT_SQL and row function; returns the seconds taken."""
    from agent.store import schema

    t0 = time.perf_counter()
    cols = synthetic_columns(n, start, end, seed)
    conn = schema.connect(str(path))
    schema.migrate(conn)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(schema.INSERT_SQL, _rows(cols, currency))  # streamed from a generator
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - t0


def synthetic_columns(n: int, start: float, end: float, seed: int) -> SimpleNamespace:
    """Per-record draws: tenants and models by weight, log-normal token counts, latency
    from time to first token plus time per token, 1 % upstream errors, cost by model."""
    import numpy as np

    rng = np.random.default_rng(seed)
    c = SimpleNamespace(n=n, wall=np.sort(rng.uniform(start, end, n)))
    c.tenant = rng.choice(len(TENANTS), n, p=TENANT_WEIGHTS)
    c.model = rng.choice(len(MODELS), n, p=(0.5, 0.3, 0.2))
    c.prompt = np.maximum(1, rng.lognormal(5.5, 1.0, n)).astype(int)  # median ~245 tokens
    c.completion = np.maximum(1, rng.lognormal(4.5, 0.9, n)).astype(int)  # median ~90
    c.stream = rng.random(n) < 0.5
    c.ttft = rng.gamma(2.0, 0.05, n) + c.prompt * 2e-5  # s
    c.latency = c.ttft + c.completion * rng.gamma(4.0, 0.004, n)  # + time per token
    c.failed = rng.random(n) < 0.01
    c.cost = (c.prompt + c.completion) / 1000 * np.asarray(MODEL_PRICE)[c.model]
    return c


def _rows(c: SimpleNamespace, currency: str):
    """The store rows of `synthetic_columns` (a generator: nothing is held)."""
    from tqdm import tqdm

    from agent.record import RequestRecord
    from agent.store import schema
    from agent.store.rows import to_row

    for i in tqdm(range(c.n), desc="records", unit="rec", unit_scale=True, mininterval=1):
        start_ns = int(c.wall[i] * 1e9)
        ok = not c.failed[i]
        rec = RequestRecord(
            request_id=f"pre-{i:08d}",
            trace_id=f"{i:032x}",
            span_id=f"{i:016x}",
            tenant=TENANTS[c.tenant[i]],
            model=MODELS[c.model[i]],
            operation="chat",
            path="/v1/chat/completions",
            stream=bool(c.stream[i]),
            wall_time=float(c.wall[i]),
            start_ns=start_ns,
            end_ns=start_ns + int(c.latency[i] * 1e9),
            first_token_ns=start_ns + int(c.ttft[i] * 1e9) if ok else None,
            response_model=MODELS[c.model[i]],
            prompt_tokens=int(c.prompt[i]),
            completion_tokens=int(c.completion[i]) if ok else None,
            finish_reason="stop" if ok else None,
            status="ok" if ok else "upstream_error",
            http_status=200 if ok else 503,
            error_type=None if ok else "upstream_unavailable",
            overhead_ns=150_000,
            cost_currency=currency,
            cost_amount=float(c.cost[i]) if ok else 0.0,
            cost_status="final",
        )
        yield to_row(rec, schema.COST_FINAL, i + 1)


def check_source(path: Path, start: float, end: float, n: int) -> None:
    """alerts.source.StoreSource reads the records back (a small range, all of it)."""
    from alerts.source import StoreSource

    mid = (start + end) / 2
    span = (end - start) * 1000 / n  # about 1000 records
    frame = StoreSource(path).frame(mid, mid + span)
    if len(frame) < 500 or frame["cost_amount"].isna().all() or set(frame["tenant"]) - set(TENANTS):
        raise SystemExit(f"StoreSource read back {len(frame)} odd rows:\n{frame.head()}")
    print(f"StoreSource reads them back: {len(frame)} records in a {span:.1f} s slice")


# ---- one mode: an agent, its first evaluation, the load --------------------------------


def config_yaml(mode: str, store_dir: Path, window_s: float, interval_s: float) -> str:
    alerts = {
        "enabled": mode != "off",
        "interval_s": interval_s,
        "drift": {"enabled": True, "window_s": window_s, "reference_s": window_s},
        "cost": {"enabled": True},
        "idle_priority": mode != "normal",
    }
    import yaml

    return yaml.safe_dump(
        {
            "logging": {"level": "WARNING"},
            "store": {
                "dir": str(store_dir),
                "filename": STORE_FILE,
                "max_disk_bytes": 0,
                "retention": {"max_size_mb": 1_000_000, "max_age_days": 30},
            },
            "alerts": alerts,
        }
    )


@dataclass
class Result:
    mode: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    evaluations: dict[str, float] = field(default_factory=dict)  # detector -> count in load
    durations: dict[str, float] = field(default_factory=dict)  # detector -> last seconds
    first_eval_s: float | None = None
    rss_agent_mb: float = 0.0
    rss_child_mb: float = 0.0
    cpu: tuple[float, float] = (0.0, 0.0)  # CPU s/s of the agent, of its child
    stop_s: float = 0.0  # SIGTERM to exit
    orphans: int = 0  # the agent's children still running after it exited
    loadavg: tuple[float, float] = (0.0, 0.0)  # 1-min load average before, after

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def scrape(url: str) -> tuple[dict, dict]:
    """(evaluations by detector, last duration by detector) from the agent's /metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    evals: dict[str, float] = {}
    took: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "inferwatch_alert_evaluations_total":
                d = s.labels["detector"]
                evals[d] = evals.get(d, 0.0) + s.value
            elif s.name == "inferwatch_alert_evaluation_duration_seconds":
                took[s.labels["detector"]] = s.value
    return evals, took


class RssWatch:
    """Peak RSS of a process and of its children, sampled every 0.5 s in a thread, and
    the CPU seconds a second each used from start to stop."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.agent = self.child = 0
        self.cpu_agent = self.cpu_child = 0.0
        self._t0, self._cpu0 = time.monotonic(), self._cpu()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        while not self._stop.wait(0.5):
            try:
                self.agent = max(self.agent, self.proc.memory_info().rss)
                kids = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.child = max(self.child, kids)
            except psutil.Error:
                pass

    def _cpu(self) -> tuple[float, float]:
        own = sum(self.proc.cpu_times()[:2])
        kids = sum(sum(c.cpu_times()[:2]) for c in self.proc.children(recursive=True))
        return own, kids

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        took = time.monotonic() - self._t0
        own, kids = self._cpu()
        # A child replaced during the load would make its share negative: shown as 0.
        self.cpu_agent = (own - self._cpu0[0]) / took
        self.cpu_child = max(0.0, (kids - self._cpu0[1]) / took)


def wait_first_evaluation(url: str, timeout_s: float) -> float:
    """Seconds until both detectors have evaluated once."""
    from tqdm import tqdm

    t0 = time.monotonic()
    with tqdm(desc="first evaluation", unit="s", bar_format="{desc}: {elapsed}") as bar:
        while time.monotonic() - t0 < timeout_s:
            evals, _ = scrape(url)
            if evals.get("drift", 0) >= 1 and evals.get("cost", 0) >= 1:
                return time.monotonic() - t0
            time.sleep(1.0)
            bar.update(1)
    raise SystemExit(f"no evaluation after {timeout_s:g} s")


async def load(url: str, args: argparse.Namespace, res: Result) -> None:
    """Open-loop load: request i is sent at i/rate; each timed to the end of its body."""
    import aiohttp
    import proxy_load
    from tqdm import tqdm

    n = int(args.rate * args.seconds)
    plain = proxy_load.body(False, args.tokens)
    streamed = proxy_load.body(True, args.tokens)
    bar = tqdm(total=n, desc=f"load {res.mode}", unit="req", mininterval=1)

    async def one(session, data: bytes) -> None:
        t = time.perf_counter()
        try:
            async with session.post(
                url + proxy_load.PATH, data=data, headers=proxy_load.HEADERS
            ) as r:
                await r.read()
                if r.status != 200:
                    res.errors += 1
                    return
        except aiohttp.ClientError:
            res.errors += 1
            return
        finally:
            bar.update(1)
        res.latencies_ms.append((time.perf_counter() - t) * 1e3)

    every = max(1, round(1 / args.stream_share)) if args.stream_share > 0 else 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        t0 = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            data = streamed if every and i % every == 0 else plain
            tasks.append(asyncio.create_task(one(session, data)))
        await asyncio.gather(*tasks)
    bar.close()


def run_mode(mode: str, upstream: str, store_dir: Path, args: argparse.Namespace) -> Result:
    import proxy_procs

    res = Result(mode)
    (store_dir / "alerts.db").unlink(missing_ok=True)  # each mode's engine starts afresh
    for suffix in ("-wal", "-shm"):
        (store_dir / f"alerts.db{suffix}").unlink(missing_ok=True)
    cfg = store_dir.parent / f"{mode}.yaml"
    cfg.write_text(config_yaml(mode, store_dir, args.window_s, args.interval_s))
    port = proxy_procs.free_port()
    up = ["up", "--upstream", upstream, "--listen", f"127.0.0.1:{port}", "--config", str(cfg)]
    argv = ["-m", "agent.cli", *up]
    if mode == "thread":
        argv = [__file__, f"--agent-{mode}", *up]
    env = {"PYTHONPATH": str(proxy_procs.REPO)}
    server = proxy_procs.start(f"agent-{mode}", argv, port, "/health/live", env)
    try:
        if mode != "off":
            res.first_eval_s = wait_first_evaluation(server.url, args.first_eval_timeout_s)
        evals0, _ = scrape(server.url)
        watch = RssWatch(server.proc.pid)
        before = os.getloadavg()[0]
        asyncio.run(load(server.url, args, res))
        res.loadavg = (before, os.getloadavg()[0])
        watch.stop()
        evals1, res.durations = scrape(server.url)
        res.evaluations = {d: v - evals0.get(d, 0.0) for d, v in evals1.items()}
        res.rss_agent_mb, res.rss_child_mb = watch.agent / 2**20, watch.child / 2**20
        res.cpu = (watch.cpu_agent, watch.cpu_child)
    finally:
        res.stop_s, res.orphans = stop_agent(server, args.stop_timeout_s)
    return res


def stop_agent(server, timeout_s: float) -> tuple[float, int]:
    """SIGTERM the agent; (seconds until it exited, its children left running). An agent
    not gone after `timeout_s` is killed; children it leaves are counted, then killed."""
    import psutil

    kids = server.ps.children(recursive=True)
    t0 = time.monotonic()
    server.proc.terminate()
    try:
        server.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    took = time.monotonic() - t0
    _, alive = psutil.wait_procs(kids, timeout=2)
    for p in alive:  # the agent's own children, by pid
        with contextlib.suppress(psutil.Error):
            p.kill()
    server.stderr.close()
    return took, len(alive)


# ---- the report ----------------------------------------------------------------------


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"{args.records:,} records; {args.rate:g} req/s for {args.seconds:g} s per mode "
        f"({args.stream_share:.0%} streamed, {args.tokens} chunks); alerts.interval_s "
        f"{args.interval_s:g}"
    )
    head = (
        f"{'mode':7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'err':>4} "
        f"{'evals d/c':>9} {'drift s':>8} {'cost s':>7} {'1st eval s':>10} "
        f"{'RSS agent':>9} {'RSS child':>9} {'CPU a/c':>9} {'load avg':>11} "
        f"{'stop s':>6} {'orphans':>7}"
    )
    print(head)
    for r in results:
        ev = f"{r.evaluations.get('drift', 0):.0f}/{r.evaluations.get('cost', 0):.0f}"
        first = f"{r.first_eval_s:.1f}" if r.first_eval_s is not None else "-"
        print(
            f"{r.mode:7} {r.pct(0.5):7.2f} {r.pct(0.99):7.2f} {max(r.latencies_ms):8.1f} "
            f"{r.errors:4d} {ev:>9} {r.durations.get('drift', float('nan')):8.2f} "
            f"{r.durations.get('cost', float('nan')):7.2f} {first:>10} "
            f"{r.rss_agent_mb:7.0f}MB {r.rss_child_mb:7.0f}MB "
            f"{r.cpu[0]:4.2f}/{r.cpu[1]:4.2f} "
            f"{r.loadavg[0]:5.2f}>{r.loadavg[1]:5.2f} {r.stop_s:6.1f} {r.orphans:7d}"
        )
    by = {r.mode: r for r in results}
    if "off" in by:
        base = by["off"].pct(0.99)
        ratios = [f"p99({m})/p99(off) = {by[m].pct(0.99) / base:.2f}" for m in MODES[1:] if m in by]
        print("   ".join(ratios))


def main() -> None:
    if sys.argv[1:2] == ["--agent-thread"]:  # an agent of run_mode
        raise SystemExit(patched_agent_main(sys.argv[1], sys.argv[2:]))
    args = parse_args()
    import proxy_procs

    from agent.cost.prices import DEFAULT_CURRENCY

    root = Path(args.keep_store or tempfile.mkdtemp(prefix="alerts-stall-"))
    store_dir = root / "store"
    store_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - 2 * args.window_s
    path = store_dir / STORE_FILE
    path.unlink(missing_ok=True)
    took = prefill(path, args.records, start, end, DEFAULT_CURRENCY, args.seed)
    size = sum(f.stat().st_size for f in store_dir.iterdir()) / 2**20
    print(f"pre-filled {args.records:,} records in {took:.1f} s ({size:.0f} MiB)")
    check_source(path, start, end, args.records)
    upstream = proxy_procs.start_upstream()
    results = []
    try:
        for mode in args.modes.split(","):
            results.append(run_mode(mode, upstream.url, store_dir, args))
    finally:
        proxy_procs.stop(upstream)
        if not args.keep_store:
            shutil.rmtree(root, ignore_errors=True)
    report(results, args)


if __name__ == "__main__":
    main()
