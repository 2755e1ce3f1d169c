"""Cost of the alert engine's steps on a realistic upper bound: 1,000 firing alerts in
100 groups (10 names x 100 tenants), one report and one tick, on a file database.

Usage: PYTHONPATH=. python bench/engine_step.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from alerts import db
from alerts.engine.config import RouteConfig, default_inhibit_rules
from alerts.engine.engine import AlertEngine
from alerts.engine.state import EngineState
from alerts.model import Alert


def one_run(folder: Path) -> tuple[float, float, float, int]:
    sent: list = []
    route = RouteConfig(receivers=["hook"], group_by=["alertname", "tenant"])
    state = EngineState(db.connect(folder / "alerts.db"))
    engine = AlertEngine(route, default_inhibit_rules(), state, sent.append)
    alerts = [
        Alert({"alertname": f"A{i % 10}", "tenant": f"t{i % 100}", "i": str(i)})
        for i in range(1000)
    ]
    t0 = time.perf_counter()
    engine.process(0, "bench", alerts)
    t1 = time.perf_counter()
    engine.process(60, "bench", alerts)
    t2 = time.perf_counter()
    engine.tick(60)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, len(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            results.append(one_run(Path(d)))
    first, repeat, tick, sent = (statistics.median(col) for col in zip(*results, strict=True))
    print(f"median of {runs} runs, 1000 alerts in 100 groups:")
    print(f"  first report {first * 1000:.0f} ms, repeated report {repeat * 1000:.0f} ms")
    print(f"  tick flushing 100 groups ({sent:.0f} notifications) {tick * 1000:.0f} ms")


if __name__ == "__main__":
    main()
