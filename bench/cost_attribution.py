"""Benchmark: cost attribution per collector tick with N concurrent requests.

One tick whose N members have all finished, the heaviest case: the tick is opened
(metering, membership), shared out at once, and the N requests are released; measured
without and with writing the cost into new records (a copy of each with the cost set).
Printed side by side for N = 100, 1,000, 10,000, with a same-run baseline: building N
`RequestRecord`s, which the proxy does anyway. The ratio survives a loaded machine
(2 cores shared with other jobs); absolute times do not.
Budget (issue 5): attribution for 1,000 concurrent requests per tick <= 2 ms.

Run: PYTHONPATH=. python bench/cost_attribution.py
"""

from __future__ import annotations

import statistics
import time

from agent.cost.config import CostConfig
from agent.cost.engine import CostEngine
from agent.record import RequestRecord
from collectors.base import DeviceInterval

S = 1_000_000_000


def _record(i: int, end: int) -> RequestRecord:
    return RequestRecord(
        f"r{i}", "0" * 32, "0" * 16, f"t{i % 7}", "m", "chat", "/v1/chat/completions", True,
        0.0, i, end, i + S // 10, prompt_tokens=100 + i % 50, completion_tokens=20 + i % 30,
    )  # fmt: skip


def run_once(n: int, write_records: bool) -> dict[str, float]:
    """One tick of n finished requests; without `write_records` the cost fields are not
    written into new records (the engine's `_costed`), which leaves the attribution alone."""
    eng = CostEngine(CostConfig(), lambda r: None, clock=lambda: 0)
    if not write_records:
        eng._costed = lambda r, *_: r
    for i in range(n):
        eng.begin(f"r{i}", i, f"t{i % 7}", "m", True)
    t = time.perf_counter()
    recs = [_record(i, S - 1 - i) for i in range(n)]
    baseline = time.perf_counter() - t
    for r in recs:
        eng.finish(r)  # all finish before the tick covering them arrives
    t, c = time.perf_counter(), time.thread_time()
    eng.on_intervals([DeviceInterval("gpu:0", "NVIDIA H100 80GB HBM3", 0, S, 0.9, 1.0, 300.0)])
    tick, cpu = time.perf_counter() - t, time.thread_time() - c
    assert eng.totals.attributed > 0 and eng.held == 0
    return {"tick": tick * 1e3, "cpu": cpu * 1e3, "baseline": baseline * 1e3}


def steady(concurrent: int = 1000, per_tick: int = 100, ticks: int = 40) -> list[tuple]:
    """Steady load: `concurrent` requests always in flight, `per_tick` of them finishing and
    as many starting each tick (each lasts ~10 ticks). Returns (wall, CPU) ms per tick,
    after the warm-up, of the engine's work: the tick callback plus the finishes (the last
    member of a tick to finish settles it), with records writing their cost."""
    eng = CostEngine(CostConfig(), lambda r: None, clock=lambda: 0)
    live = []
    for i in range(concurrent):
        eng.begin(f"r{i}", 0, f"t{i % 7}", "m", True)
        live.append(i)
    out, nxt = [], concurrent
    for k in range(1, ticks + 1):
        done = [_record(i, k * S - 1 - i % 1000) for i in live[:per_tick]]
        t, c = time.perf_counter(), time.thread_time()
        eng.finish_many(done)  # as the service drains them; the last member of a tick settles it
        t, c = time.perf_counter() - t, time.thread_time() - c
        live = live[per_tick:]
        for _ in range(per_tick):
            eng.begin(f"r{nxt}", k * S - 1, f"t{nxt % 7}", "m", True)
            live.append(nxt)
            nxt += 1
        iv = DeviceInterval("gpu:0", "NVIDIA H100 80GB HBM3", (k - 1) * S, k * S, 0.9, 1.0, 300.0)
        t, c = t - time.perf_counter(), c - time.thread_time()
        eng.on_intervals([iv])
        t, c = t + time.perf_counter(), c + time.thread_time()
        if k > concurrent // per_tick + 2:
            out.append((t * 1e3, c * 1e3))
    return out


def calibration_ms() -> float:
    """CPU time of a fixed pure-Python loop (1M `x += i`), to compare machines and loads."""
    c = time.thread_time()
    x = 0
    for i in range(1_000_000):
        x += i
    return (time.thread_time() - c) * 1e3


def main() -> None:
    cal = statistics.median(calibration_ms() for _ in range(5))
    print(f"calibration: 1M-iteration Python loop = {cal:.1f} ms CPU on this machine now")
    ticks = steady()
    wall = statistics.median(t for t, _ in ticks)
    cpu = statistics.median(c for _, c in ticks)
    print(f"steady load, 1,000 requests in flight, 100 finishing per tick: engine work per tick "
          f"median {wall:.3f} ms wall, {cpu:.3f} ms CPU (budget 2 ms; "
          f"{cpu / cal * 1000:.1f} per mille of the calibration loop)")  # fmt: skip
    print(f"{'N':>6} {'attribution ms':>15} {'CPU ms':>8} {'+ records ms':>13} {'baseline ms':>12} "
          f"{'attr/baseline':>14}")  # fmt: skip
    for n in (100, 1000, 10000):
        reps = 21 if n <= 1000 else 3
        attr = [run_once(n, False) for _ in range(reps)]
        full = [run_once(n, True) for _ in range(reps)]
        a = statistics.median(r["tick"] for r in attr)
        cpu = statistics.median(r["cpu"] for r in attr)
        f = statistics.median(r["tick"] for r in full)
        base = statistics.median(r["baseline"] for r in attr + full)
        print(f"{n:>6} {a:>15.3f} {cpu:>8.3f} {f:>13.3f} {base:>12.3f} {a / base:>14.2f}")
    print("worst case: all N requests of a tick finish in it (settled and released at once);")
    print("attribution = that tick's callback (cost fields not written); + records = also")
    print("writing the cost into N new RequestRecords; baseline = building N RequestRecords.")


if __name__ == "__main__":
    main()
