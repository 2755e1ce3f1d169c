"""Does a dashboard refreshing against an agent's store stall the agent? (issue 17: "the
agent's proxy p99 does not move while a dashboard refreshes against its store")

One agent (`python -m agent.cli up`, its own process, alerts off) in front of the instant
upstream (bench/instant_upstream.py), on a copy of a seeded store of `--records` records
(bench/dashboard_stores.py, cached under `--work-dir`). This process sends open-loop load
at `--rate` requests a second for `--seconds` (bench/alerts_stall.py's `load`: half
streamed; every request timed to the end of its body), in interleaved rounds of modes:

- `off`: no dashboard;
- `browser`: a dashboard served on the agent's store (bench/dashboard_pages.py `served`:
  the command `inferwatch dashboard` execs, the default `dashboard.cache_s` of 10 s) and a
  driver process reloading every page for the last hour, day and 7 days in turn in
  chromium (Playwright) as fast as it can. On 2 cores chromium's own CPU competes with
  the agent too: its CPU is shown apart;
- `apptest`: no server and no browser, a driver process rendering the same pages in
  turn with Streamlit's AppTest (the scripts and their queries alone, cache as served);
- `burn`: a control, no dashboard: a process spinning one core (about what the AppTest
  driver uses), so that CPU share and store contention can be told apart;
- `<mode>@idle`: the dashboard's processes (server, driver, chromium) in Linux's
  SCHED_IDLE class, as the agent runs its alerts evaluation (`alerts.idle_priority`).

Printed per round: p50/p99/max latency (ms), errors, the page loads the driver finished,
CPU seconds a second of the dashboard (the Streamlit server, or the AppTest process) and
of chromium (with Playwright's driver), the agent's `inferwatch_store_records_pending`
(largest, and at the end: did the writer fall behind?), the 1-min load average; then
p99(mode)/p99(off) per round and pooled over the rounds.

    python bench/dashboard_stall.py [--records 1000000] [--rate 100] [--seconds 30]
        [--rounds 3] [--modes off,browser,apptest] [--work-dir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dashboard_stores  # noqa: E402

RANGES = ("1h", "1d", "7d")
BURN = "print('load', flush=True)\nwhile True: pass"
EVERY_ENV = "INFERWATCH_BENCH_EVERY"  # how `--every` reaches the driver processes


# ---- the drivers (their own processes: `--drive browser URL` / `--drive apptest DIR`) ----


def drive_browser(url: str) -> None:
    """Reload every page at every range in chromium until killed; a line per load."""
    from dashboard_pages import PAGES, load_in_browser, params
    from playwright.sync_api import sync_playwright

    from tests.dashboard_browser import CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        view = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        while True:
            for rng in RANGES:
                for _file, pg in PAGES:
                    q = "&".join(f"{k}={v}" for k, v in params(pg, rng, False).items())
                    load_in_browser(view, f"{url}/{'' if pg == PAGES[0][1] else pg}?{q}")
                    print("load", flush=True)
                    time.sleep(_every())


def drive_apptest(data_dir: str, config: str) -> None:
    """Run every page at every range with AppTest until killed; a line per page run."""
    from dashboard_pages import PAGES, params
    from streamlit.testing.v1 import AppTest

    from tests.dashboard_app import APP

    sys.argv = [str(APP), "--data-dir", data_dir, "--config", config]
    while True:
        for rng in RANGES:
            at = AppTest.from_file(str(APP), default_timeout=300)
            for k, v in params("request", rng, False).items():
                at.query_params[k] = v
            at.run()
            for file, _pg in PAGES:
                at.switch_page(f"app_pages/{file}").run()
                print("load", flush=True)
                time.sleep(_every())


def _every() -> float:
    # `--every S`: a pause after each page load (an operator's auto-refresh), 0: flat out.
    return float(os.environ.get(EVERY_ENV, "0"))


# ---- one round ----------------------------------------------------------------------------


@dataclass
class Round:
    mode: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    loads: int = 0  # page loads the driver finished during the load
    cpu_dashboard: float = 0.0  # CPU s/s
    cpu_browser: float = 0.0
    pending: list[float] = field(default_factory=list)  # the agent's gauge, every second
    loadavg: tuple[float, float] = (0.0, 0.0)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def pending(url: str) -> float:
    """inferwatch_store_records_pending on the agent's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("inferwatch_store_records_pending"):
                return float(line.rsplit(" ", 1)[1])
    return float("nan")


def cpu_s(pid: int | None, children: bool) -> float:
    """User + system CPU seconds of `pid` (and of all its descendants)."""
    import psutil

    if pid is None:
        return 0.0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)] if children else [p]
        return sum(sum(q.cpu_times()[:2]) for q in procs)
    except psutil.Error:
        return 0.0


@contextlib.contextmanager
def dashboard(mode: str, store_dir: Path, config: Path, log: Path):
    """The dashboard of `mode`, its driver started and its first page load done. Yields
    (dashboard pid, browser pid or None, driver's log file)."""
    from dashboard_pages import served

    kind, _, priority = mode.partition("@")
    argv = [sys.executable, __file__, "--drive", kind]
    with contextlib.ExitStack() as stack:
        pids = []
        if kind == "browser":
            url, proc = stack.enter_context(served(store_dir, config, None))
            argv.append(url)
            pids.append(proc.pid)
        elif kind == "apptest":
            argv += [str(store_dir), str(config)]
        else:  # burn: one core's worth of CPU, no store, no dashboard
            argv = [sys.executable, "-c", BURN]
        out = stack.enter_context(open(log, "w+"))
        driver = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        if priority == "idle":  # before the driver starts chromium: its children inherit
            for pid in [*pids, driver.pid]:
                os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        try:
            while "load" not in log.read_text():  # warmed up: modules imported
                if driver.poll() is not None:
                    raise SystemExit(f"the {mode} driver exited: see {log}")
                time.sleep(0.5)
            yield (pids or [driver.pid])[0], driver.pid, log
        finally:
            stop_driver(driver)


def stop_driver(driver: subprocess.Popen) -> None:
    """SIGTERM the driver (it closes its browser), then kill what it left, by pid."""
    import psutil

    kids = psutil.Process(driver.pid).children(recursive=True)
    driver.terminate()
    try:
        driver.wait(15)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.wait()
    _, alive = psutil.wait_procs(kids, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def one_round(mode: str, agent_url: str, store_dir: Path, cfg: Path, args) -> Round:
    import alerts_stall

    r = Round(mode)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            with contextlib.suppress(OSError):
                r.pending.append(pending(agent_url))

    with contextlib.ExitStack() as stack:
        dash_pid = browser_pid = None
        log = store_dir.parent / f"driver-{mode}.log"
        if mode != "off":
            dash_pid, browser_pid, log = stack.enter_context(dashboard(mode, store_dir, cfg, log))
        loads0 = log.read_text().count("load") if mode != "off" else 0
        browsing = mode.startswith("browser")
        alone = not browsing  # the driver is the dashboard (or the burner): with children
        cpu0 = (cpu_s(dash_pid, alone), cpu_s(browser_pid, True) if browsing else 0.0)
        t0, before = time.monotonic(), os.getloadavg()[0]
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        asyncio.run(alerts_stall.load(agent_url, args, r))
        took = time.monotonic() - t0
        stop.set()
        watcher.join()
        r.loadavg = (before, os.getloadavg()[0])
        r.cpu_dashboard = (cpu_s(dash_pid, alone) - cpu0[0]) / took
        if browsing:  # the driver, Playwright's node and chromium
            r.cpu_browser = (cpu_s(browser_pid, True) - cpu0[1]) / took
        r.loads = (log.read_text().count("load") - loads0) if mode != "off" else 0
    return r


# ---- the run ------------------------------------------------------------------------------


def report(rounds: list[Round], args, seeded: int) -> None:
    print(
        f"\n{seeded:,} records in the store; {args.rate:g} req/s for {args.seconds:g} s a "
        f"round ({args.stream_share:.0%} streamed, {args.tokens} chunks); 2 shared cores\n"
    )
    print(
        "| round | mode | p50 ms | p99 ms | max ms | errors | page loads | dashboard CPU s/s "
        "| chromium CPU s/s | pending max / end | load avg before > after |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for i, r in enumerate(rounds):
        end = r.pending[-1] if r.pending else float("nan")
        print(
            f"| {i // len(args.modes.split(','))} | {r.mode} | {r.pct(0.5):.2f} | "
            f"{r.pct(0.99):.2f} | {max(r.latencies_ms, default=float('nan')):.1f} | "
            f"{r.errors} | {r.loads} | {r.cpu_dashboard:.2f} | {r.cpu_browser:.2f} | "
            f"{max(r.pending, default=float('nan')):.0f} / {end:.0f} | "
            f"{r.loadavg[0]:.2f} > {r.loadavg[1]:.2f} |"
        )
    offs = [r for r in rounds if r.mode == "off"]
    print()
    for mode in dict.fromkeys(r.mode for r in rounds if r.mode != "off"):
        mine = [r for r in rounds if r.mode == mode]
        pairs = [f"{m.pct(0.99) / o.pct(0.99):.2f}" for m, o in zip(mine, offs, strict=False)]
        pooled = Round(mode, [x for r in mine for x in r.latencies_ms])
        base = Round("off", [x for r in offs for x in r.latencies_ms])
        print(
            f"p99({mode})/p99(off): per round {', '.join(pairs)}; pooled "
            f"{pooled.pct(0.99):.2f} / {base.pct(0.99):.2f} ms = "
            f"{pooled.pct(0.99) / base.pct(0.99):.2f}"
        )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/inferwatch-dashboard-bench"))
    p.add_argument("--rate", type=float, default=100.0, help="requests a second (100)")
    p.add_argument("--seconds", type=float, default=30.0, help="load per round, s (30)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of every mode (3)")
    p.add_argument("--modes", default="off,browser,apptest", help="in order, each round")
    p.add_argument("--stream-share", type=float, default=0.5)
    p.add_argument("--tokens", type=int, default=16, help="chunks a streamed answer has")
    p.add_argument(
        "--every",
        type=float,
        default=0.0,
        help="seconds the driver waits after each page load, as an operator's auto-refresh "
        "does (0: pages back to back, the worst case)",
    )
    p.add_argument("--quick", action="store_true", help="20k records, 5 s, 1 round")
    args = p.parse_args()
    if args.quick:
        args.records, args.seconds, args.rounds = 20_000, 5.0, 1
    return args


def main() -> None:
    if sys.argv[1:2] == ["--drive"]:  # SIGTERM unwinds: the browser is closed
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        if sys.argv[2] == "browser":
            drive_browser(sys.argv[3])
        else:
            drive_apptest(sys.argv[3], sys.argv[4])
        return
    args = parse_args()
    os.environ[EVERY_ENV] = str(args.every)  # the drivers inherit it
    import alerts_stall
    import proxy_procs

    seeded, _end = dashboard_stores.cached(args.work_dir, args.records)
    root = Path(tempfile.mkdtemp(prefix="dashboard-stall-"))
    store_dir = root / "store"
    shutil.copytree(seeded, store_dir, ignore=shutil.ignore_patterns("seeded.json"))
    cfg = root / "agent.yaml"  # the agent's and the dashboard's: alerts off, no retention
    cfg.write_text(alerts_stall.config_yaml("off", store_dir, 3600, 60))
    upstream = proxy_procs.start_upstream()
    port = proxy_procs.free_port()
    argv = ["-m", "agent.cli", "up", "--upstream", upstream.url]
    argv += ["--listen", f"127.0.0.1:{port}", "--config", str(cfg)]
    agent = proxy_procs.start("agent", argv, port, "/health/live")
    rounds = []
    try:
        warm = argparse.Namespace(**{**vars(args), "seconds": min(10.0, args.seconds)})
        one_round("off", agent.url, store_dir, cfg, warm)  # untimed: connections, caches
        for _ in range(args.rounds):
            for mode in args.modes.split(","):
                rounds.append(one_round(mode, agent.url, store_dir, cfg, args))
    finally:
        proxy_procs.stop(agent)
        proxy_procs.stop(upstream)
        shutil.rmtree(root, ignore_errors=True)
    report(rounds, args, args.records)


if __name__ == "__main__":
    main()
