"""False alarms and power of drift detection on labelled synthetic histories.

Run: PYTHONPATH=. python bench/drift_quality.py [--windows N] [--power-windows N] ...

Each window compares one hour of requests (the current window) with the trailing
24 hours before it (the reference), as the detector does by default. Volumes follow the
daily and weekly seasonality of bench/drift_synth.py, so night and weekend windows are
small. Clean windows measure false alarms; windows with a labelled shift measure power.
Both are run side by side with inferwatch's calibrated tests (bootstrap null from the
reference, Benjamini-Hochberg) and with Evidently's fixed thresholds (calibrate=false).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

from alerts.drift.compare import compare
from alerts.drift.config import DriftConfig
from bench.drift_synth import Shift, hourly_volume, records

NO_SHIFT = Shift()
SHIFTS = {
    "completion_tokens": Shift(completion_mean=1.1),
    "tpot_s": Shift(latency_mean=1.1),
    "tenant": Shift(tenant_mix=0.05),
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--windows", type=int, default=200, help="clean windows (false alarms), default 200"
    )
    p.add_argument(
        "--power-windows", type=int, default=100, help="shifted windows per shift, default 100"
    )
    p.add_argument(
        "--per-hour", type=float, default=500, help="mean requests per hour, default 500"
    )
    p.add_argument(
        "--power-requests", type=int, default=500, help="requests in a shifted window, default 500"
    )
    p.add_argument(
        "--reference-hours", type=int, default=24, help="hours in the reference, default 24"
    )
    p.add_argument(
        "--sigma", type=float, default=0.5, help="log-sd of completion tokens, default 0.5"
    )
    p.add_argument(
        "--fdr",
        type=float,
        default=0.05,
        help="false discovery rate of the calibrated mode, default 0.05",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the synthetic history, default 1")
    p.add_argument(
        "--tests",
        default="",
        help="test per feature for the calibrated mode, as FEATURE=TEST,... ('*' for every "
        "feature; tests: ks, wasserstein, chisquare, z, jensenshannon, psi); default: "
        "Evidently's selection",
    )
    return p.parse_args()


def window(hour: int, args, rng, shift=NO_SHIFT, n_cur=None):
    """(reference, current) frames for the window ending at `hour`."""
    n_ref = sum(hourly_volume(h, args.per_hour) for h in range(hour - args.reference_hours, hour))
    n_cur = n_cur or hourly_volume(hour, args.per_hour)
    return records(n_ref, rng, args.sigma), records(n_cur, rng, args.sigma, shift)


def clean(args, configs) -> dict:
    """Per mode: windows flagged at the dataset level, with any feature, per-feature rate."""
    rng = np.random.default_rng(args.seed)
    out = {m: {"dataset": 0, "any": 0, "rows": 0, "tested": 0} for m in configs}
    sizes = []
    for w in tqdm(range(args.windows), desc="clean windows", unit="window"):
        ref, cur = window(
            args.reference_hours + w * 7, args, rng
        )  # every 7th hour: all hours of the day
        sizes.append(len(cur))
        for mode, config in configs.items():
            report = compare(ref, cur, config)
            tested = [r for r in report.rows if r.tested]
            out[mode]["dataset"] += any(report.dataset_drift.values())
            out[mode]["any"] += any(r.drifted for r in tested)
            out[mode]["rows"] += sum(r.drifted for r in tested)
            out[mode]["tested"] += len(tested)
    return out | {"sizes": (min(sizes), int(np.median(sizes)), max(sizes))}


def power(args, configs, feature: str, shift: Shift) -> dict:
    """Per mode: share of shifted windows where `feature` drifted in segment "all"."""
    rng = np.random.default_rng(args.seed + 1)
    out = {m: {"feature": 0, "dataset": 0} for m in configs}
    for w in tqdm(range(args.power_windows), desc=f"shift {feature}", unit="window"):
        ref, cur = window(args.reference_hours + w * 7, args, rng, shift, args.power_requests)
        for mode, config in configs.items():
            report = compare(ref, cur, config)
            out[mode]["feature"] += any(
                r.drifted for r in report.rows if r.feature == feature and r.segment == "all"
            )
            out[mode]["dataset"] += report.dataset_drift["all"]
    return out


def report_clean(args, configs, fp: dict) -> None:
    """Print the false-alarm table of the clean windows."""
    sizes = fp["sizes"]
    print(f"\nclean windows: {args.windows}, current window sizes min/median/max {sizes}")
    print(f"{'mode':<24} {'dataset-level':>14} {'any feature':>12} {'per feature x segment':>22}")
    for mode in configs:
        c = fp[mode]
        rate = c["rows"] / max(c["tested"], 1)
        print(
            f"{mode:<24} {c['dataset'] / args.windows:>14.2%} {c['any'] / args.windows:>12.2%} {rate:>22.3%}"
        )


def _tests(spec: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in spec.split(",") if item)


def main() -> None:
    args = parse()
    configs = {
        f"calibrated fdr {args.fdr}": DriftConfig(fdr=args.fdr, tests=_tests(args.tests)),
        "fixed (Evidently)": DriftConfig(calibrate=False),
    }
    start = time.perf_counter()
    if args.windows:
        report_clean(args, configs, clean(args, configs))
    for feature, shift in SHIFTS.items():
        res = power(args, configs, feature, shift)
        print(
            f"\nshift {shift} ({args.power_requests} requests, sigma {args.sigma}): power on '{feature}' [all]"
        )
        for mode in configs:
            r = res[mode]
            print(
                f"{mode:<20} feature {r['feature'] / args.power_windows:>7.1%}   dataset-level {r['dataset'] / args.power_windows:>6.1%}"
            )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
