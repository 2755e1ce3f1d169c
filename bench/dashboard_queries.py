"""Dashboard queries on a big store: every `StoreData` method a page calls, timed for the
last hour, day and week, with and without a tenant filter, on stores of 1M and 10M
records spread over 7 days (ending now). Prints a table, and the total per page.

Seeding is a bulk path: a pool of records from `tests/dashboard_seed.py` repeated with
new wall times and request ids, inserted with `executemany`; the rollups come from the
writer's own code (`rollups.aggregate`, `rollups_sql.write`). The seeded files are
deleted at the end.

    python bench/dashboard_queries.py [--records 1000000 10000000] [--raw 1000000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.store import rollups, rollups_sql, schema  # noqa: E402
from agent.store.rows import to_row  # noqa: E402
from dashboards.data import api  # noqa: E402
from dashboards.data.store import StoreData  # noqa: E402
from tests.dashboard_seed import seed_records  # noqa: E402

POOL = 20_000
CHUNK = 50_000
DAYS = 7
RANGES = {"hour": 3600, "day": 86400, "week": 7 * 86400}


def seed(path: Path, n: int, end: float) -> None:
    """`n` rows uniform over the `DAYS` days before `end`, with their rollups."""
    pool = seed_records(POOL, end - 3600, end, seed=1)
    rows = [to_row(r) for r in pool]
    facts = [rollups.fact_of_record(r) for r in pool]
    walls = np.sort(np.random.default_rng(2).uniform(end - DAYS * 86400, end, n))
    conn = schema.connect(str(path))
    schema.migrate(conn)
    # A bulk load into a new file: no journal, no fsync, indexes kept in memory.
    for pragma in (
        "journal_mode=DELETE",
        "journal_mode=OFF",
        "synchronous=OFF",
        "cache_size=-2000000",
    ):
        conn.execute(f"PRAGMA {pragma}")
    with tqdm(total=n, unit="rec", desc=f"seeding {n:,}", mininterval=2) as bar:
        for at in range(0, n, CHUNK):
            _chunk(conn, rows, facts, walls, at)
            bar.update(min(CHUNK, n - at))
    conn.execute("PRAGMA journal_mode=WAL")  # as the agent leaves it
    conn.close()


def _chunk(conn, rows, facts, walls, at: int) -> None:
    batch, batch_facts = [], []
    for i in range(at, min(at + CHUNK, len(walls))):
        k, w = i % POOL, float(walls[i])
        row = rows[k]
        batch.append((f"bench-{i:09d}", w, *row[2:]))
        batch_facts.append((w, *facts[k][1:]))
    conn.execute("BEGIN")
    conn.executemany(schema.INSERT_SQL, batch)
    rollups_sql.write(conn, rollups.aggregate(batch_facts))
    conn.execute("COMMIT")


def pages(d: StoreData, f: api.Filters) -> dict[str, list[tuple[str, object]]]:
    """The calls each page makes (name, thunk)."""
    step = api.step_for(f.span_s)
    return {
        "overview": [
            ("totals", lambda: d.totals(f)),
            ("totals by model", lambda: d.totals(f, "model")),
            ("quantiles latency", lambda: d.quantiles(f, "latency")),
            ("quantiles ttft", lambda: d.quantiles(f, "ttft")),
            ("timeseries", lambda: d.timeseries(f, step)),
        ],
        "cost": [
            ("timeseries by model", lambda: d.timeseries(f, step, "model")),
            ("totals by tenant", lambda: d.totals(f, "tenant")),
            ("histogram cost", lambda: d.histogram(f, "cost")),
            ("requests order=cost", lambda: d.requests(f, order="cost")),
        ],
        "requests": [
            ("timeseries by status", lambda: d.timeseries(f, step, "status")),
            ("quantiles latency/step", lambda: d.quantiles(f, "latency", step_s=step)),
            ("quantiles ttft/step", lambda: d.quantiles(f, "ttft", step_s=step)),
            ("quantiles tpot/step", lambda: d.quantiles(f, "tpot", step_s=step)),
            ("requests newest", lambda: d.requests(f)),
        ],
    }


def timed(call, repeat: int = 3) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(d: StoreData, end: float, label: str) -> None:
    """Print one table: a row per call, a column per range and filter; then page totals."""
    cols = [(r, tenant) for r in RANGES for tenant in ((), ("acme",))]
    names = [f"{r}{'+tenant' if t else ''}" for r, t in cols]
    print(f"\n### {label}\n")
    print("| page | call | " + " | ".join(names) + " |")
    print("|---|---|" + "---:|" * len(cols))
    totals = {}
    for i, (rng, tenants) in enumerate(cols):
        f = api.Filters(end - RANGES[rng], end, tenants=tenants)
        for page, calls in pages(d, f).items():
            for name, call in calls:
                totals.setdefault((page, name), [0.0] * len(cols))[i] = timed(call)
    for (page, name), secs in totals.items():
        print(f"| {page} | {name} | " + " | ".join(f"{s * 1000:.0f} ms" for s in secs) + " |")
    for page in ("overview", "cost", "requests"):
        sums = [sum(v[i] for (p, _), v in totals.items() if p == page) for i in range(len(cols))]
        print(
            f"| **{page}** | **page total** | " + " | ".join(f"**{s:.2f} s**" for s in sums) + " |"
        )


def run(n: int, folder: Path, raw: bool) -> None:
    path = folder / f"store-{n}.sqlite3"
    end = math.floor(time.time()) - 17.5  # not on a minute: ranges are widened to minutes
    t = time.perf_counter()
    seed(path, n, end)
    seeded = time.perf_counter() - t
    size = sum(p.stat().st_size for p in folder.glob(f"{path.name}*"))
    print(f"\n{n:,} records seeded in {seeded:.0f} s, {size / 2**30:.1f} GiB", flush=True)
    measure(StoreData(path), end, f"{n:,} records, rollups (schema v{schema.VERSION})")
    if raw:
        measure(StoreData(path, rollups=False), end, f"{n:,} records, raw rows (older store)")
    path.unlink()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument(
        "--raw",
        type=int,
        default=0,
        metavar="N",
        help="also time the raw-row fallback up to N records",
    )
    p.add_argument("--dir", type=Path, help="where to seed (a temporary folder by default)")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dashboard-bench-", dir=args.dir))
    try:
        for n in args.records:
            run(n, folder, n <= args.raw)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
