"""How long every dashboard page takes on stores of 1M and 10M records (issue 17: at most
2 s at 1M, 5 s at 10M), for the last hour, day and 7 days, with and without a tenant
filter, cold (Streamlit's query cache empty) and warm (the same page loaded again).

Two ways, side by side:

- `browser`: the dashboard served as its own process, by the command line `inferwatch
  dashboard` execs (dashboards.cli.streamlit_command) plus the app's `--now`, with
  `dashboard.cache_s` 600 so the second load finds the query cache warm, and Debian's
  chromium through Playwright. Timed with `time.perf_counter`
  from `page.goto` until Streamlit's app root says the script run ended
  (`data-test-script-state` back to `notRunning` after the page's title is drawn);
  `drawn` adds the time until the page's text stopped changing (charts draw after the
  script). One server per store, so "cold" is the page's own queries uncached; the
  sidebar's lists of models and tenants (the same for every page of a range) are cached
  from the first page of the range on.
- `apptest`: the script alone, in this process, with Streamlit's AppTest; cold after
  `st.cache_data.clear()`, warm on the rerun.

The dashboard's clock is pinned (`--now`) to the end of the seeded records, so a cached
store (`--work-dir`) gives the same ranges whenever it is reused.

    python bench/dashboard_pages.py [--records 1000000 10000000] [--work-dir DIR]
        [--ways browser,apptest] [--pages overview,cost] [--ranges 1h,1d,7d] [--quick]
    python bench/dashboard_pages.py --work-dir DIR --clean
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dashboard_stores  # noqa: E402
from tqdm import tqdm  # noqa: E402

from dashboards.navigation import HIDDEN, NAVIGATION  # noqa: E402
from tests.dashboard_app import APP  # noqa: E402


def navigation() -> list[tuple[str, str]]:
    """(file, url path) of every page, the hidden Request page included."""
    return [(f, u) for f, _t, u, _i in NAVIGATION + HIDDEN]


PAGES = navigation()
WARMUP_RANGE = "15m"  # each page loaded once at this range first: imports, the JS bundle
RANGES = ("1h", "1d", "7d")
GOTO: list[float] = []  # seconds of each page.goto (before the script runs)
FIRST: dict[tuple, float] = {}  # (way, records, page): seconds of the warm-up load
TARGET_S = {1_000_000: 2.0, 10_000_000: 5.0}  # issue 17; a store size between: the 10M one


@dataclass
class Case:
    """One page load, cold then warm (seconds); `drawn` only in the browser."""

    way: str
    records: int
    page: str
    rng: str
    tenant: bool
    cold: float = float("nan")
    warm: float = float("nan")
    cold_drawn: float = float("nan")
    warm_drawn: float = float("nan")
    problems: list[str] = field(default_factory=list)

    @property
    def target(self) -> float:
        return TARGET_S.get(self.records, 5.0 if self.records > 1_000_000 else 2.0)

    @property
    def passed(self) -> bool:
        worst = max(self.cold, self.warm, self.cold_drawn if self.way == "browser" else 0)
        return worst <= self.target and not self.problems


def params(page: str, rng: str, tenant: bool) -> dict[str, str]:
    """The page's URL query parameters."""
    q = {"range": rng}
    if tenant:
        q["tenant"] = dashboard_stores.TENANT
    if page == "request":
        q["id"] = dashboard_stores.REQUEST_ID
    return q


# ---- the browser ------------------------------------------------------------------------

SCRIPT_DONE = (
    "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
    " return a && a.getAttribute('data-test-script-state') === 'notRunning'"
    " && document.querySelector('[data-testid=\"stMainBlockContainer\"] h1'); }"
)


def load_in_browser(page, url: str) -> tuple[float, float, list[str]]:
    """(seconds until the script run ended, until the text stopped changing, problems).
    The time `page.goto` took (HTML and Streamlit's JS loaded) goes to GOTO."""
    t0 = time.perf_counter()
    page.goto(url)
    GOTO.append(time.perf_counter() - t0)
    page.wait_for_function(SCRIPT_DONE, timeout=120_000, polling=20)
    done = time.perf_counter() - t0
    main = page.locator('[data-testid="stMain"]')
    text, changed = main.inner_text(), time.perf_counter()
    while time.perf_counter() - changed < 0.5:  # half a second unchanged: drawn
        page.wait_for_timeout(50)
        now = main.inner_text()
        if now != text:
            text, changed = now, time.perf_counter()
    shown = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return done, changed - t0, [t[:120] for t in shown.all_inner_texts()]


def run_browser(folder: Path, end: float, n: int, cases: list[Case], config: Path) -> None:
    """Every case against one served dashboard (its process started once)."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard_browser import CHROMIUM

    with served(folder, config, end) as (url, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        view = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        for pg in dict.fromkeys(c.page for c in cases):  # untimed by the table: warm-up
            address = f"{url}/{'' if pg == PAGES[0][1] else pg}?range={WARMUP_RANGE}"
            FIRST[("browser", n, pg)] = load_in_browser(view, address)[0]
        for c in tqdm(cases, desc=f"browser {n:,}", unit="page"):
            q = "&".join(f"{k}={v}" for k, v in params(c.page, c.rng, c.tenant).items())
            address = f"{url}/{'' if c.page == PAGES[0][1] else c.page}?{q}"
            c.cold, c.cold_drawn, c.problems = load_in_browser(view, address)
            c.warm, c.warm_drawn, _ = load_in_browser(view, address)
        browser.close()


@contextlib.contextmanager
def served(folder: Path, config: Path, end: float | None):
    """The dashboard on `folder`'s store with its clock pinned at `end` (None: the wall
    clock): the Streamlit command `inferwatch dashboard` execs, plus `--now` (a flag of
    the app the CLI does not offer). Yields (its URL, its process); stopped at the end."""
    from agent.config import load_settings
    from dashboards.cli import streamlit_command
    from tests.conftest import free_port
    from tests.dashboard_browser import dashboard_process

    port = free_port()
    over = {"store": {"dir": str(folder)}, "dashboard": {"port": port}}
    flags = ["--config", str(config), "--data-dir", str(folder)]
    flags += ["--now", repr(end)] if end is not None else []
    cmd = streamlit_command(load_settings(str(config), over), flags)
    url = f"http://127.0.0.1:{port}"
    with dashboard_process(cmd, url, folder.parent / "dashboard.log") as proc:
        yield url, proc


def bench_config(work: Path) -> Path:
    """An agent config whose dashboard keeps query answers for 10 minutes (warm loads)."""
    path = work / "dashboard-bench.yaml"
    path.write_text("dashboard:\n  cache_s: 600\nlogging:\n  level: WARNING\n")
    return path


# ---- AppTest ----------------------------------------------------------------------------


def run_apptest(folder: Path, end: float, n: int, cases: list[Case], config: Path) -> None:
    """Every case in this process; one AppTest per range and filter, its pages in turn."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    sys.argv = [str(APP), "--data-dir", str(folder), "--config", str(config), "--now", repr(end)]
    _apptest_warmup(n, [c.page for c in cases])
    groups: dict[tuple, list[Case]] = {}
    for c in cases:
        groups.setdefault((c.rng, c.tenant), []).append(c)
    bar = tqdm(total=len(cases), desc=f"apptest {n:,}", unit="page")
    for (rng, tenant), group in groups.items():
        at = AppTest.from_file(str(APP), default_timeout=300)
        for k, v in params("request", rng, tenant).items():
            at.query_params[k] = v
        at.run()  # the default page, so that pages can be switched to
        for c in group:
            at.switch_page(f"app_pages/{dict((u, f) for f, u in PAGES)[c.page]}")
            st.cache_data.clear()
            c.cold = _timed_run(at)
            c.warm = _timed_run(at)
            c.problems = [str(e.value)[:120] for e in list(at.exception) + list(at.error)]
            bar.update(1)
    bar.close()


def _apptest_warmup(n: int, pages: list[str]) -> None:
    """Each page run once at the warm-up range (its modules imported), timed apart."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.query_params["range"] = WARMUP_RANGE
    FIRST[("apptest", n, PAGES[0][1])] = _timed_run(at)
    for pg in dict.fromkeys(pages):
        at.switch_page(f"app_pages/{dict((u, f) for f, u in PAGES)[pg]}")
        FIRST[("apptest", n, pg)] = _timed_run(at)


def _timed_run(at) -> float:
    t = time.perf_counter()
    at.run()
    return time.perf_counter() - t


# ---- where the time goes ---------------------------------------------------------------


def breakdown(folder: Path, end: float, n: int, ranges: list[str]) -> None:
    """Each StoreData call of the overview, cost and requests pages (the store helper's
    bench/dashboard_queries.py `measure`), then the Drift page's steps per range."""
    import dashboard_queries

    from dashboards.data.store import StoreData

    path = folder / dashboard_stores.STORE_FILE
    dashboard_queries.measure(StoreData(path), end, f"{n:,} records: StoreData calls")
    print(f"\n### {n:,} records: the Drift page's steps (trailing reference)\n")
    print("| range | ids in range (SQL) | read current | read reference | compare | rows |")
    print("|---|---:|---:|---:|---:|---:|")
    for rng in ranges:
        print(_drift_steps(path, end, rng))


def _drift_steps(path: Path, end: float, rng: str) -> str:
    from agent.config import load_settings
    from alerts.source import _IDS_SQL
    from dashboards.data import alerts_compare
    from dashboards.ui import timerange

    start, stop = timerange.last(timerange.RANGES[rng][1], end)
    config = alerts_compare.page_config(load_settings(None, {}).alerts.drift)
    source = alerts_compare.source_for(
        load_settings(None, {"store": {"dir": str(path.parent)}}), config
    )
    t = time.perf_counter()
    with source._connect() as conn:
        ids = len(conn.execute(_IDS_SQL, (start, stop)).fetchall())
    t_ids, t = time.perf_counter() - t, time.perf_counter()
    cur = alerts_compare.read(source, start, stop)
    t_cur, t = time.perf_counter() - t, time.perf_counter()
    ref = alerts_compare.read(source, start - config.reference_s, start)
    t_ref, t = time.perf_counter() - t, time.perf_counter()
    if len(ref) and len(cur):
        alerts_compare.compare(ref, cur, config)
    t_cmp = time.perf_counter() - t
    return (
        f"| {rng} | {t_ids:.2f} s ({ids:,}) | {t_cur:.2f} s | {t_ref:.2f} s | "
        f"{t_cmp:.2f} s | {len(cur):,} / {len(ref):,} |"
    )


# ---- the report -------------------------------------------------------------------------


def table(cases: list[Case], way: str) -> None:
    """A row per page and store size, a column per range and filter: cold / warm (s)."""
    mine = [c for c in cases if c.way == way]
    if not mine:
        return
    cols = sorted({(c.rng, c.tenant) for c in mine}, key=lambda k: (RANGES.index(k[0]), k[1]))
    drawn = " (script ended; drawn)" if way == "browser" else ""
    print(f"\n### {way}: cold / warm seconds{drawn}\n")
    print("| records | page | " + " | ".join(f"{r}{' +tenant' if t else ''}" for r, t in cols))
    print("|---:|---|" + "---:|" * len(cols))
    rows: dict[tuple, dict] = {}
    for c in mine:
        rows.setdefault((c.records, c.page), {})[(c.rng, c.tenant)] = c
    for (n, page), by in rows.items():
        cells = [_cell(by[k]) if k in by else "" for k in cols]
        print(f"| {n / 1e6:g}M | {page} | " + " | ".join(cells) + " |")


def _cell(c: Case) -> str:
    mark = "" if c.passed else " ✗"
    text = f"{c.cold:.2f} / {c.warm:.2f}"
    if c.way == "browser":
        text += f" ({c.cold_drawn:.2f})"
    return text + mark + (" !" if c.problems else "")


def summary(cases: list[Case]) -> None:
    """The slowest cases and what passes."""
    print("\n### slowest (cold, browser script end or AppTest run)\n")
    for c in sorted(cases, key=lambda c: -c.cold)[:8]:
        print(
            f"- {c.way} {c.records / 1e6:g}M {c.page} {c.rng}{' +tenant' if c.tenant else ''}:"
            f" cold {c.cold:.2f} s, warm {c.warm:.2f} s (target {c.target:g} s)"
        )
    print()
    for way in ("browser", "apptest"):
        for n in sorted({c.records for c in cases if c.way == way}):
            mine = [c for c in cases if c.way == way and c.records == n]
            bad = [f"{c.page} {c.rng}{'+t' if c.tenant else ''}" for c in mine if not c.passed]
            print(
                f"{way} {n:,}: {len(mine) - len(bad)}/{len(mine)} within {mine[0].target:g} s"
                f" (median cold {statistics.median(c.cold for c in mine):.2f} s)"
                + (f"; over or with a problem: {', '.join(bad)}" if bad else "")
            )
    if GOTO:
        print(
            f"\npage.goto alone (HTML and Streamlit's JS loaded, the app's session not yet "
            f"run): median {statistics.median(GOTO):.2f} s, max {max(GOTO):.2f} s"
        )
    print(
        "\nfirst load of each page after the server (or AppTest) started, range "
        f"{WARMUP_RANGE} (modules imported, chromium's cache empty): not in the table"
    )
    for (way, n, pg), secs in FIRST.items():
        print(f"- {way} {n:,} {pg}: {secs:.2f} s")
    for c in cases:
        if c.problems:
            print(f"problem: {c.way} {c.records:,} {c.page} {c.rng}: {c.problems}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--work-dir", type=Path, default=Path("/tmp/inferwatch-dashboard-bench"))
    p.add_argument("--clean", action="store_true", help="delete the cached stores and exit")
    p.add_argument("--ways", default="browser,apptest")
    p.add_argument("--pages", default=",".join(u for _f, u in PAGES))
    p.add_argument("--ranges", default=",".join(RANGES))
    p.add_argument("--tenant", choices=("both", "no", "yes"), default="both")
    p.add_argument(
        "--subset",
        metavar="N:PAGES:RANGES",
        action="append",
        default=[],
        help="for the store of N records only these pages and ranges "
        "(e.g. 10000000:overview,cost:1h,7d)",
    )
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also time each StoreData call and the Drift page's steps (after the pages)",
    )
    p.add_argument("--quick", action="store_true", help="20k records, the Overview page, 1h")
    args = p.parse_args()
    if args.quick:
        args.records, args.pages, args.ranges, args.tenant = [20_000], "overview", "1h", "no"
    return args


def plan(args: argparse.Namespace, way: str, n: int) -> list[Case]:
    pages, ranges = args.pages.split(","), args.ranges.split(",")
    for s in args.subset:
        count, sub_pages, sub_ranges = s.split(":")
        if int(count) == n:
            pages, ranges = sub_pages.split(","), sub_ranges.split(",")
    tenants = {"both": (False, True), "no": (False,), "yes": (True,)}[args.tenant]
    return [Case(way, n, pg, r, t) for r in ranges for t in tenants for pg in pages]


def main() -> None:
    args = parse_args()
    work = args.work_dir
    if args.clean:
        dashboard_stores.clean(work)
        return
    work.mkdir(parents=True, exist_ok=True)
    config, cases = bench_config(work), []
    load = [os.getloadavg()[0]]
    for n in args.records:
        folder, end = dashboard_stores.cached(work, n)
        for way in [w for w in args.ways.split(",") if w in ("browser", "apptest")]:
            todo = plan(args, way, n)
            (run_browser if way == "browser" else run_apptest)(folder, end, n, todo, config)
            cases += todo
            load.append(os.getloadavg()[0])
        if args.breakdown:
            breakdown(folder, end, n, args.ranges.split(","))
    for way in ("browser", "apptest"):
        table(cases, way)
    summary(cases)
    print(f"\n1-min load average at the start and after each way: {load} (2 cores)")


if __name__ == "__main__":
    main()
