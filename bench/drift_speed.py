"""Time compare() over two windows of 1M records each, and the text descriptors per KB.

Run: PYTHONPATH=. python bench/drift_speed.py [--records N] [--rounds N] [--full]

Side by side in one run: compare() as configured by default (windows over max_rows are
subsampled to 100k rows, numerical tests to 20k values, the Wasserstein null simulated at
1000 and rescaled), the same with Evidently's fixed thresholds (no bootstrap null), and
with --full the same without any subsampling, for the ratio. Then describe() on 1 KB of
ASCII prose and of mixed-script text, and the domain classifier on 2 x 2000 texts.
Wall time and this process's CPU time are both printed (the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from tqdm import tqdm

from alerts.drift.compare import compare
from alerts.drift.config import DriftConfig
from alerts.drift.text import describe, domain_test
from bench.drift_synth import records

ASCII_KB = (
    "The deployment of the recommendation service finished at 09:30 UTC; p99 880 ms. " * 13
)[:1024]
MIXED_KB = ("Привет, мир! Die Größe ist 42 m². 日本語のテキスト. Hello again. " * 20)[:1024]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--records", type=int, default=1_000_000, help="records per window, default 1,000,000"
    )
    p.add_argument(
        "--rounds", type=int, default=5, help="timed compare() calls per mode, default 5"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="also time compare() testing every row (no max_rows / max_value_rows subsampling; slow)",
    )
    p.add_argument(
        "--text-rounds", type=int, default=2000, help="describe() calls per text, default 2000"
    )
    p.add_argument(
        "--texts",
        type=int,
        default=2000,
        help="texts per window for the domain classifier, default 2000",
    )
    return p.parse_args()


def timed(fn, rounds: int, label: str) -> tuple[float, float]:
    """Median wall and CPU seconds of `rounds` calls (after one warm-up call)."""
    fn()
    wall, cpu = [], []
    for _ in tqdm(range(rounds), desc=label, unit="call", leave=False):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    args = parse()
    rng = np.random.default_rng(0)
    ref, cur = records(args.records, rng), records(args.records, rng)
    modes = {
        "default (calibrated)": DriftConfig(),
        "fixed thresholds": DriftConfig(calibrate=False),
    }
    if args.full:
        # every row tested; the null keeps its 1000-sample cap (uncapped it would hold
        # resamples x 1M draws in memory)
        modes["no subsampling"] = DriftConfig(max_rows=10**9, max_value_rows=10**9)
    results = {m: timed(lambda c=c: compare(ref, cur, c), args.rounds, m) for m, c in modes.items()}
    base = results["default (calibrated)"][0]
    print(f"compare() over {args.records:,} + {args.records:,} records (target <= 1 s)")
    for mode, (wall, cpu) in results.items():
        print(f"  {mode:<22} wall {wall:7.3f} s  cpu {cpu:7.3f} s  ratio {wall / base:5.2f}x")
    print("describe() per 1 KB text (runs on every request when capture is off)")
    for name, text in (("ASCII prose", ASCII_KB), ("mixed scripts", MIXED_KB)):
        words = ("ignore previous", "system prompt", "password")
        wall, cpu = timed(lambda t=text, w=words: describe(t, w), args.text_rounds, name)
        print(f"  {name:<22} {wall * 1e6:7.1f} us wall  {cpu * 1e6:7.1f} us cpu")
    texts = [ASCII_KB[i % 900 : i % 900 + 120] for i in range(args.texts)]
    wall, cpu = timed(lambda: domain_test(texts, texts[::-1]), 3, "domain classifier")
    print(
        f"domain classifier, {args.texts} + {args.texts} texts: wall {wall:.2f} s  cpu {cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
