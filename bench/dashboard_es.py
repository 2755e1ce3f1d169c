"""How long each `EsData` question takes on 100k request-log documents, in the noida-db
emulator of the Elasticsearch API (no real Elasticsearch can be installed here: these
are the emulator's figures, not Elasticsearch's).

Seeds `--records` records over a week (tests/dashboard_seed.py), ships them as the agent
does (its template via its own `setup`, its documents from its own conversion, the
official bulk helper), then times each method `--repeat` times over the last day and the
whole week (with a model filter too) and prints the median and max in milliseconds, and
the share of the week a request table of 200 rows costs next to one aggregation.

Run: `python bench/dashboard_es.py [--records 100000] [--repeat 5]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dashboards.data.api import DataUnavailable, Filters, step_for
from dashboards.data.es import EsData
from tests.dashboard_seed import seed_records
from tests.es_emulator import EsEmulator
from tests.integration.test_dashboard_es_emulator import ship

WEEK = 7 * 86400


def questions(data: EsData, f: Filters, step: int) -> dict:
    """Name -> a call of one page question over `f`."""
    return {
        "values(tenant)": lambda: data.values("tenant", f),
        "totals": lambda: data.totals(f),
        "totals(by=tenant)": lambda: data.totals(f, by="tenant"),
        "timeseries": lambda: data.timeseries(f, step),
        "timeseries(by=model)": lambda: data.timeseries(f, step, by="model"),
        "quantiles(latency)": lambda: data.quantiles(f, "latency"),
        "quantiles(ttft, step)": lambda: data.quantiles(f, "ttft", step_s=step),
        "histogram(cost)": lambda: data.histogram(f, "cost"),
        "safety(step)": lambda: data.safety(f, step_s=step),
        "requests(cost, 200)": lambda: data.requests(f, order="cost", limit=200),
        "record": lambda: data.record("req-00000042"),
    }


def timed(call, repeat: int) -> str:
    """ "median / max" wall time of `call` in ms, or what stopped it."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            call()
        except DataUnavailable as err:  # e.g. past the client's timeout
            return f"failed: {err}"
        times.append((time.perf_counter() - t0) * 1000)
    return f"{statistics.median(times):.0f} / {max(times):.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    end = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + WEEK
    with tempfile.TemporaryDirectory() as tmp, EsEmulator(Path(tmp)) as emu:
        t0 = time.perf_counter()
        ship(emu.url, seed_records(args.records, end - WEEK, end, seed=1))
        print(f"seeded and shipped {args.records} records in {time.perf_counter() - t0:.1f} s")
        data = EsData(emu.url, request_timeout=120)
        ranges = {
            "day": Filters(end - 86400, end),
            "week": Filters(end - WEEK, end),
            "week, one model": Filters(end - WEEK, end, models=("qwen2-7b",)),
        }
        print("| question | " + " | ".join(f"{r} median / max ms" for r in ranges) + " |")
        print("|---" * (len(ranges) + 1) + "|")
        calls = [questions(data, f, step_for(f.span_s)) for f in ranges.values()]
        for name in calls[0]:
            cells = [timed(c[name], args.repeat) for c in calls]
            print(f"| {name} | " + " | ".join(cells) + " |")
        data.close()


if __name__ == "__main__":
    main()
