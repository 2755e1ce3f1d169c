"""What the form of request ids costs the store: random ids against time-ordered ones.

The store indexes `request_id` (look-ups by id). Random ids (uuid4-like) put each new
index entry on a random page, so a commit of B rows rewrites about B index pages; the
agent's own ids (`agent.ids.new_request_id`, UUIDv7) grow the index at its right edge, as
the wall-time index does. Side by side in one run: the same records, only the ids
differ, inserted as the writer does (`schema.INSERT_SQL`, a transaction per batch) into
a fresh database holding `--prefill` rows already; reported as CPU us per row of this
process (SQLite's work, the thread that does it) and the random/ordered ratio.

    python bench/store_ids.py [--rows N] [--prefill N] [--batch B] [--rounds R]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.ids import new_request_id  # noqa: E402
from agent.store import schema  # noqa: E402
from agent.store.rows import to_row  # noqa: E402
from tests.store_records import make_record  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=50_000, help="rows timed per run (50,000)")
    p.add_argument(
        "--prefill", type=int, default=200_000, help="rows in the table before timing (200,000)"
    )
    p.add_argument("--batch", type=int, default=100, help="rows per transaction (100)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median shown)")
    return p.parse_args(argv)


def rows_with(ids, n: int, start: int = 0) -> list[tuple]:
    """n store rows of plausible records, request ids from `ids()`."""
    base = make_record(0)
    return [
        to_row(dataclasses.replace(base, request_id=ids()), schema.COST_FINAL, start + i)
        for i in range(n)
    ]


def random_id() -> str:
    return os.urandom(16).hex()


def insert(conn, rows: list[tuple], batch: int) -> None:
    for i in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(schema.INSERT_SQL, rows[i : i + batch])
        conn.execute("COMMIT")


def run(ids, args: argparse.Namespace) -> float:
    """CPU us per row inserting `args.rows` rows after `args.prefill` (ids from `ids`)."""
    prefill = rows_with(ids, args.prefill)
    timed = rows_with(ids, args.rows, args.prefill)
    with tempfile.TemporaryDirectory() as tmp:
        conn = schema.connect(os.path.join(tmp, "store.db"))
        schema.migrate(conn)
        insert(conn, prefill, 5_000)
        c0 = time.thread_time()
        insert(conn, timed, args.batch)
        cpu = time.thread_time() - c0
        conn.close()
    return cpu / args.rows * 1e6


def main() -> None:
    args = parse_args()
    kinds = {"random (uuid4-like)": random_id, "time-ordered (UUIDv7)": new_request_id}
    results: dict[str, list[float]] = {k: [] for k in kinds}
    with tqdm(total=args.rounds * len(kinds), desc="runs", file=sys.stderr) as bar:
        for r in range(args.rounds):
            order = list(kinds) if r % 2 == 0 else list(reversed(kinds))
            for name in order:
                results[name].append(run(kinds[name], args))
                bar.update()
    med = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"{args.rows:,} rows in batches of {args.batch} after {args.prefill:,} rows, "
        f"median of {args.rounds} interleaved rounds (CPU us per row)"
    )
    for name, us in med.items():
        print(f"{name:24} {us:7.1f}")
    random_us, ordered_us = med["random (uuid4-like)"], med["time-ordered (UUIDv7)"]
    print(f"random / ordered: {random_us / ordered_us:.2f}x")


if __name__ == "__main__":
    main()
