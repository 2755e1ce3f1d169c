"""The soak's refreshing dashboard: every `--interval-s`, the data calls the dashboard's
overview, cost and requests pages make (bench/dashboard_queries.pages) for the last hour,
run against the agent's live store, as Streamlit runs them when a browser refreshes.

Why not poll `inferwatch dashboard` over HTTP: Streamlit's HTTP answers are a static shell;
the pages' queries only run for a browser session over its websocket. What a refreshing
dashboard does to the agent is these reads of its SQLite store (CPU, and readers that pin
the WAL while they run), so they are what this process does. Prints one line a refresh,
`<CLOCK_MONOTONIC seconds> <seconds it took>`, until signalled.

    python bench/soak_dashboard.py --store DIR/requests.sqlite3 --interval-s 10
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dashboard_queries import pages  # noqa: E402
from dashboards.data import api  # noqa: E402
from dashboards.data.store import StoreData  # noqa: E402


def refresh(data: StoreData) -> float:
    """Every page's calls once, for the last hour; seconds taken."""
    t0 = time.monotonic()
    end = time.time()
    for calls in pages(data, api.Filters(end - 3600, end)).values():
        for _, call in calls:
            call()
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--store", type=Path, required=True, help="the agent's store file")
    p.add_argument(
        "--interval-s", type=float, default=10.0, help="seconds between refreshes (default 10)"
    )
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while not args.store.exists():
        time.sleep(0.5)
    data = StoreData(args.store)
    while True:
        t0 = time.monotonic()
        print(f"{t0:.3f} {refresh(data):.3f}", flush=True)
        time.sleep(max(0.0, args.interval_s - (time.monotonic() - t0)))


if __name__ == "__main__":
    main()
