"""Seeded stores the dashboard benches share, cached under a work folder so reruns skip
seeding: `<work>/store-<n>/requests.sqlite3` (and the agent's data folder is
`<work>/store-<n>`), with `seeded.json` written last (an interrupted seed is redone).

The seeding itself is bench/dashboard_queries.py's `seed` (the store helper's bulk path:
records of tests/dashboard_seed.py spread over 7 days, rollups by the writer's code).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dashboard_queries  # noqa: E402

STORE_FILE = "requests.sqlite3"
REQUEST_ID = "bench-000000123"  # a request every seeded store holds (the Request page)
TENANT = "acme"  # the tenant filter of the benches (half of the seeded records)


def cached(work: Path, n: int) -> tuple[Path, float]:
    """The data folder of a store of `n` records, seeded if not cached; and the wall time
    its records end at (pin the dashboard's clock there: `--now`)."""
    folder = work / f"store-{n}"
    meta = folder / "seeded.json"
    if meta.exists() and (folder / STORE_FILE).exists():
        return folder, json.loads(meta.read_text())["end"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    end = math.floor(time.time()) - 17.5  # not on a minute: ranges are widened to minutes
    t = time.perf_counter()
    dashboard_queries.seed(folder / STORE_FILE, n, end)
    took = time.perf_counter() - t
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"{n:,} records seeded in {took:.0f} s, {size / 2**30:.2f} GiB", flush=True)
    meta.write_text(json.dumps({"n": n, "end": end, "seed_s": took, "bytes": size}))
    return folder, end


def clean(work: Path) -> None:
    """Delete every cached store under `work`."""
    for folder in work.glob("store-*"):
        shutil.rmtree(folder, ignore_errors=True)
        print(f"deleted {folder}")


if __name__ == "__main__":  # seed ahead: python bench/dashboard_stores.py WORK N...
    for count in sys.argv[2:]:
        cached(Path(sys.argv[1]), int(count))
