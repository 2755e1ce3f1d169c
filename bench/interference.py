"""What background work in Linux's SCHED_IDLE class does to a bare pass-through's tail.

The store's writer runs in SCHED_IDLE, yet its commits still show in the agent's c1 p99
(BENCHMARKS.md, proxy section). This separates the kind of work from the agent: next to
the floor (bench/floor_proxy.py, no agent at all) it runs one burner process at a time in
SCHED_IDLE, waking every `--period-ms` like the writer's flush interval:

- `none`: no burner (the baseline);
- `sha256`: hashes a 64 KB buffer for `--burn-ms` (CPU bound, a small working set);
- `memory`: gathers at random from a 256 MB array for `--burn-ms` (a large working set);
- `sqlite`: the store's own batch, an INSERT of `--rows` pending rows and an UPDATE of as
  many earlier ones into a real database in one transaction (`agent.store.schema`).

Burners stay stopped (SIGSTOP) except in their own rounds; rounds are interleaved (every
mode each round, in a rotating order). Printed per mode, medians over rounds: the floor's
p50 and p99 (ms) at concurrency 1, and the burner's CPU per second.

Run: `python bench/interference.py [--rounds 8] [--requests 3000]` (needs leave to set
SCHED_IDLE, which any process has for itself).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_load  # noqa: E402
import proxy_procs  # noqa: E402

MODES = ("none", "sha256", "memory", "sqlite")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=8, help="interleaved rounds (default 8)")
    p.add_argument("--requests", type=int, default=3000, help="requests per round (3000)")
    p.add_argument("--period-ms", type=float, default=50, help="burner wake-up period (50)")
    p.add_argument("--burn-ms", type=float, default=2, help="sha256/memory work a wake (2)")
    p.add_argument("--rows", type=int, default=40, help="sqlite rows a wake (40)")
    p.add_argument("--burner", choices=MODES[1:], help=argparse.SUPPRESS)  # the child's side
    return p.parse_args(argv)


def burn(args: argparse.Namespace) -> None:
    """The burner process: SCHED_IDLE, then one batch of work every period, forever."""
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    period, budget = args.period_ms / 1e3, args.burn_ms / 1e3
    if args.burner == "sha256":
        buf = os.urandom(65536)

        def work() -> None:
            end = time.perf_counter() + budget
            while time.perf_counter() < end:
                hashlib.sha256(buf).digest()

    elif args.burner == "memory":
        import numpy as np

        big = np.arange(32 * 1024 * 1024, dtype=np.int64)  # 256 MB
        rng = np.random.default_rng(0)

        def work() -> None:
            end = time.perf_counter() + budget
            while time.perf_counter() < end:
                big[rng.integers(0, big.size, 4096)].sum()

    else:
        work = _sqlite_work(args.rows)
    while True:
        started = time.perf_counter()
        work()
        time.sleep(max(0.0, period - (time.perf_counter() - started)))


def _sqlite_work(rows: int):
    sys.path.insert(0, str(proxy_procs.REPO))
    from agent.store import schema
    from agent.store.rows import to_data, to_row
    from tests.records import make_record

    # The store's statement completing a pending row until session 5 (it now journals early
    # records and inserts each final row once): kept so the published figures stay reproducible.
    _UPDATE_COLUMNS = schema.DATA_COLUMNS[2:]
    _UPDATE_SQL = (
        f"UPDATE requests SET {', '.join(c + ' = ?' for c in _UPDATE_COLUMNS)}, "  # noqa: S608
        "cost_status = ?, ship_seq = ? WHERE id = (SELECT min(id) FROM requests "
        f"WHERE request_id = ? AND cost_status = '{schema.COST_PENDING}')"
    )
    conn = schema.connect(str(Path(tempfile.mkdtemp(prefix="interference-")) / "db"))
    schema.migrate(conn)
    base = make_record(request_id="x")
    n = [0]

    def work() -> None:
        first = n[0]
        recs = [base] * rows  # same content, own request ids: what matters is the SQL
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            schema.INSERT_SQL,
            [(f"r{first + i}", *to_row(r, schema.COST_PENDING)[1:]) for i, r in enumerate(recs)],
        )
        if first:  # complete the previous wake's rows, as the cost engine's release does
            conn.executemany(
                _UPDATE_SQL,
                [
                    (
                        *to_data(r)[2:],
                        schema.COST_FINAL,
                        first - rows + i + 1,
                        f"r{first - rows + i}",
                    )
                    for i, r in enumerate(recs)
                ],
            )
        conn.execute("COMMIT")
        n[0] += rows

    return work


def main() -> None:
    args = parse_args()
    if args.burner:
        burn(args)
        return
    servers: dict[str, proxy_procs.Server] = {}
    burners: dict[str, subprocess.Popen] = {}
    try:
        servers["upstream"] = proxy_procs.start_upstream()
        servers["floor"] = proxy_procs.start_floor(servers["upstream"].url)
        for mode in MODES[1:]:
            cmd = [sys.executable, __file__, "--burner", mode, "--period-ms", str(args.period_ms)]
            cmd += ["--burn-ms", str(args.burn_ms), "--rows", str(args.rows)]
            burners[mode] = subprocess.Popen(cmd, cwd=proxy_procs.REPO)
        time.sleep(2)  # let them set up (the memory array, the database)
        for b in burners.values():
            b.send_signal(signal.SIGSTOP)
        url = servers["floor"].url
        rows: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}
        for r in range(args.rounds):
            for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
                proc = burners.get(mode)
                if proc is not None:
                    proc.send_signal(signal.SIGCONT)
                    cpu0 = sum(psutil.Process(proc.pid).cpu_times()[:2])
                t0 = time.monotonic()
                lat = sorted(uvloop.run(_drive(url, args.requests)).latencies_ns)
                cpu = 0.0
                if proc is not None:
                    cpu = (sum(psutil.Process(proc.pid).cpu_times()[:2]) - cpu0) / (
                        time.monotonic() - t0
                    )
                    proc.send_signal(signal.SIGSTOP)
                rows[mode].append((lat[len(lat) // 2] / 1e6, lat[int(len(lat) * 0.99)] / 1e6, cpu))
    finally:
        for b in burners.values():
            b.send_signal(signal.SIGCONT)
            b.kill()
            b.wait()
        proxy_procs.stop_all(servers)
    print(f"floor at c1 JSON, {args.requests} requests x {args.rounds} rounds; burners in ")
    print(f"SCHED_IDLE every {args.period_ms:g} ms ({args.burn_ms:g} ms or {args.rows} rows)")
    print(f"{'burner':8} {'p50 ms':>7} {'p99 ms':>7} {'burner CPU s/s':>15}")
    for mode in MODES:
        p50, p99, cpu = (statistics.median(x[i] for x in rows[mode]) for i in range(3))
        print(f"{mode:8} {p50:7.3f} {p99:7.3f} {cpu:15.3f}")


async def _drive(url: str, n: int) -> proxy_load.Batch:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        await proxy_load.run(s, url, 200, 1, False, 16)  # warm-up
        return await proxy_load.run(s, url, n, 1, False, 16)


if __name__ == "__main__":
    main()
