"""Store write throughput: records/s committed by the writer thread, `batch` vs `sync`
durability (with and without fsync), side by side with a bare `executemany` of the same rows (the ceiling), and the
cost of `SQLiteSink.export` on the event loop (what the request side pays).

`batch+early` is the path with the cost engine on: every record is first written as its
request ends (`put_early`, an entry of the `held` table) and its costed version is inserted as
a final row later (here LAG batches later, as the cost engine holds records for seconds), so
each record costs a held entry, its deletion and an insert. A `!norollups` mode is its mode
without the dashboard's rollups (schema v4), to measure what they cost. (`@idle`/`@normal`
set `store.writer_priority`, which agents before issue 20 had: to run this file against
their code.)

Besides records/s: the writer thread's CPU per record (its own clock, read before close)
and the whole process's (event loop included).

    python bench/store_write.py [--records N] [--rounds R] [--modes MODE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.metrics import new_registry  # noqa: E402
from agent.store import schema  # noqa: E402
from agent.store.config import StoreConfig  # noqa: E402
from agent.store.rows import to_row  # noqa: E402
from agent.store.sqlite_sink import SQLiteSink  # noqa: E402
from agent.store.stats import StoreStats  # noqa: E402
from agent.store.writer import StoreWriter  # noqa: E402
from tests.store_records import make_record  # noqa: E402

BATCH = 512  # the pipeline's default batch size
LAG = 8  # batches between a record's early write and its costed version (~4,000 pending)


def bare(records, folder: Path) -> float:
    conn = schema.connect(str(folder / "bare.db"))
    schema.migrate(conn)
    t = time.perf_counter()
    for i in range(0, len(records), 5000):
        conn.execute("BEGIN")
        conn.executemany(schema.INSERT_SQL, [to_row(r) for r in records[i : i + 5000]])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return len(records) / elapsed


def _writer_cpu_s() -> float:
    """CPU seconds of the live `store-writer` thread (by its own clock)."""
    (thread,) = [t for t in threading.enumerate() if t.name == "store-writer"]
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


async def through_sink(records, folder: Path, mode: str) -> tuple[float, float, float, float]:
    """(records/s committed, mean microseconds per export call, writer thread CPU us per
    record, process CPU us per record)."""
    registry, instruments = new_registry()
    mode, _, flag = mode.partition("!")
    mode, _, prio = mode.partition("@")
    durability, fsync = mode.split("+")[0], mode.endswith("+fsync")
    early = mode.endswith("+early")
    config = StoreConfig(
        dir=folder,
        filename=f"{mode}{prio}{flag}.db",
        durability=durability,
        fsync=fsync,
        **({"writer_priority": prio} if prio else {}),
    )
    writer = StoreWriter(
        config,
        StoreStats(instruments),
        keep_unshipped=False,
        early=early,
        rollups=flag != "norollups",
    )
    writer.start()
    sink = SQLiteSink(writer, sync=durability == "sync")
    in_export = 0.0
    cpu0 = time.process_time()
    t = time.perf_counter()
    starts = range(0, len(records) + (LAG * BATCH if early else 0), BATCH)
    for i in starts:
        t0 = time.perf_counter()
        if early:
            for r in records[i : i + BATCH]:
                writer.put_early(r)  # what the proxy's finish tap does, per record
            i -= LAG * BATCH
        if i >= 0:
            await sink.export(records[i : i + BATCH])
        in_export += time.perf_counter() - t0
        await asyncio.sleep(0)
    await sink.flush()
    elapsed = time.perf_counter() - t
    n = len(records)
    cpu = (time.process_time() - cpu0) / n * 1e6
    writer_cpu = _writer_cpu_s() / n * 1e6  # includes start's migration: tiny beside n rows
    written = registry.get_sample_value("inferwatch_store_records_written_total")
    assert written == n, written
    await sink.close()
    per_call = in_export / (n / BATCH) * 1e6
    return n / elapsed, per_call, writer_cpu, cpu


MODES = ("batch", "batch+early", "sync", "sync+fsync")


async def main(n: int, rounds: int = 3, only: list[str] | None = None) -> None:
    """Interleaved rounds, median of each: the machine is shared and noisy."""
    records = [make_record(i) for i in range(n)]
    modes = tuple(only or MODES)
    got: dict[str, list] = {"bare": []} | {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            got["bare"].append(bare(records, folder))
            for mode in modes:
                got[mode].append(await through_sink(records, folder, mode))
    print(
        f"records: {n} x {rounds} interleaved rounds (medians), batch of {BATCH} per export, "
        f"sqlite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(f"{'bare executemany (ceiling)':<28} {statistics.median(got['bare']):>9,.0f} records/s")
    print(
        f"{'mode':<28} {'records/s':>9}  {'export() us/batch':>17}  {'writer CPU us/rec':>17}"
        f"  {'process CPU us/rec':>18}"
    )
    for mode in modes:
        rate, us, wcpu, pcpu = (statistics.median(col) for col in zip(*got[mode], strict=True))
        print(f"{mode:<28} {rate:>9,.0f}  {us:>17,.0f}  {wcpu:>17.1f}  {pcpu:>18.1f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--records", type=int, default=50_000, help="records per mode per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median shown)")
    p.add_argument(
        "--modes", nargs="+", help=f"only these modes (of {', '.join(MODES)}; suffix !norollups)"
    )
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.records, args.rounds, args.modes))
