"""Quality of cost anomaly detection on labelled synthetic histories, against a fixed
threshold (mean + 3 std of the trailing day) in the same run.

Run: PYTHONPATH=. python bench/cost_quality.py [--weeks 4] [--seed 0] ...  (--help)

Each history is cost per minute of several tenants over some weeks: Poisson requests
with a daily cycle and quiet weekends, gamma-distributed cost per request, a slow growth.
Spikes of known factor (2x, 3x) and duration multiply one series for a stretch; every
series (each tenant and the total) gets its own. Both detectors see the same series and
need `consecutive` intervals in a row outside their band. Reported per detector:
detection delay of the spikes found while they last (minutes from the spike's start),
power (share of spikes found while they last; 3x within 15 minutes: the issue's target),
and false alerts per series per week (alert onsets outside a spike and the hour after it).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from alerts.cost.anomaly import flags
from alerts.cost.config import CostAlertsConfig

MONDAY = 1704067200  # 2024-01-01 00:00 UTC
GRACE_MIN = 60  # an alert within this long after a spike ends belongs to the spike


@dataclass(frozen=True)
class Spike:
    start: int  # minute index
    minutes: int
    factor: float


def options(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--weeks", type=int, default=4, help="weeks of history per series (4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[60.0, 20.0, 5.0, 0.5],
        help="peak requests per minute of each tenant (60 20 5 0.5)",
    )
    p.add_argument("--cost", type=float, default=0.002, help="mean cost of a request (0.002)")
    p.add_argument("--spikes-per-day", type=float, default=2.0, help="spikes per series per day")
    p.add_argument(
        "--durations", type=int, nargs="+", default=[5, 15, 30, 60, 120], help="spike minutes"
    )
    p.add_argument("--factors", type=float, nargs="+", default=[2.0, 3.0], help="spike factors")
    p.add_argument("--k", type=float, default=3.0, help="band half-width in MADs (3)")
    p.add_argument("--consecutive", type=int, default=3, help="intervals in a row (3)")
    p.add_argument("--min-band-abs", type=float, default=0.01, help="absolute band floor")
    p.add_argument("--min-band-rel", type=float, default=0.25, help="relative band floor")
    p.add_argument("--trailing-s", type=float, default=3 * 3600.0, help="trailing window, s")
    return p.parse_args(argv)


def tenant_costs(rng, minutes: int, rate: float, cost: float) -> np.ndarray:
    """Cost per minute of one tenant: daily cycle, weekends at 40%, 2% growth a week."""
    t = np.arange(minutes) * 60.0
    daily = 1.0 + 0.6 * np.sin(2 * np.pi * t / 86400 - np.pi / 2)
    weekend = np.where((t // 86400) % 7 >= 5, 0.4, 1.0)
    growth = 1.0 + 0.02 * t / (7 * 86400)
    n = rng.poisson(rate * daily * weekend * growth / 1.6)
    shape = 4.0  # cost per request: gamma with CV 0.5; a sum of n is gamma(4 n)
    return np.where(n > 0, rng.gamma(np.maximum(n, 1) * shape, cost / shape), 0.0)


def inject(rng, values: np.ndarray, args) -> tuple[np.ndarray, list[Spike]]:
    """Spikes at random, non-overlapping times after the first day."""
    out, spikes, minutes = values.copy(), [], len(values)
    count = int(args.spikes_per_day * minutes / 1440)
    starts = np.sort(rng.choice(np.arange(1440, minutes - 200, 300), count, replace=False))
    for start in starts:
        spike = Spike(int(start), int(rng.choice(args.durations)), float(rng.choice(args.factors)))
        out[spike.start : spike.start + spike.minutes] *= spike.factor
        spikes.append(spike)
    return out, spikes


def fixed_flags(values: np.ndarray, consecutive: int) -> np.ndarray:
    """The baseline detector: above mean + 3 std of the trailing day."""
    s = pd.Series(values)
    roll = s.rolling(1440, min_periods=60)
    limit = (roll.mean() + 3 * roll.std()).shift(1)
    return (s > limit).to_numpy()


def onsets(outside: np.ndarray, consecutive: int) -> np.ndarray:
    """Minutes where an alert starts firing (a run reaches `consecutive`)."""
    run = np.zeros(len(outside), dtype=int)
    for i, f in enumerate(outside):
        run[i] = run[i - 1] + 1 if f and i else int(f)
    return np.flatnonzero(run == consecutive)


def score(alerts: np.ndarray, spikes: list[Spike], minutes: int) -> dict:
    """Delay per spike (None when missed while it lasted) and false alert count."""
    covered = np.zeros(minutes, dtype=bool)
    delays = []
    for sp in spikes:
        covered[sp.start : sp.start + sp.minutes + GRACE_MIN] = True
        hit = alerts[(alerts >= sp.start) & (alerts < sp.start + sp.minutes)]
        delays.append((sp, int(hit[0] - sp.start + 1) if len(hit) else None))
    false = int(sum(1 for a in alerts if not covered[a] and a >= 1440))
    return {"delays": delays, "false": false}


def run(args) -> dict:
    rng = np.random.default_rng(args.seed)
    minutes = args.weeks * 7 * 1440
    tenants = [tenant_costs(rng, minutes, r, args.cost) for r in args.rates]
    series = {f"tenant{i}": v for i, v in enumerate(tenants)} | {"total": np.sum(tenants, axis=0)}
    cfg = CostAlertsConfig(
        k=args.k,
        consecutive=args.consecutive,
        min_band_abs=args.min_band_abs,
        min_band_rel=args.min_band_rel,
        trailing_s=args.trailing_s,
    )
    index = np.arange(minutes, dtype=np.int64) + MONDAY // 60
    results = {
        "robust": [],
        "fixed": [],
        "means": {n: float(np.mean(v)) for n, v in series.items()},
    }
    for name, clean in tqdm(series.items(), desc="series"):
        values, spikes = inject(rng, clean, args)
        robust = flags(pd.Series(values, index=index), cfg)
        for label, outside in (("robust", robust), ("fixed", fixed_flags(values, cfg.consecutive))):
            results[label].append((name, score(onsets(outside, cfg.consecutive), spikes, minutes)))
    return results


def summary(results: dict, args) -> list[str]:
    weeks = args.weeks - 1 / 7  # the first day is warm-up
    rows = [
        "| figure | robust (this) | fixed mean+3std | robust/fixed |",
        "| --- | --- | --- | --- |",
    ]

    def line(name, a, b, fmt="{:.2f}"):
        ratio = f"{a / b:.2f}" if b else "-"
        rows.append(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} |")

    def figures(label):
        out = {}
        delays = [d for _, r in results[label] for d in r["delays"]]
        for f in args.factors:
            got = [d for sp, d in delays if sp.factor == f]
            found = [d for d in got if d is not None]
            out[f"power {f:g}x (found while it lasts)"] = len(found) / max(1, len(got))
            out[f"{f:g}x found within 15 min"] = sum(d <= 15 for d in found) / max(1, len(got))
            out[f"{f:g}x median delay, min"] = float(np.median(found)) if found else float("nan")
            out[f"{f:g}x p90 delay, min"] = (
                float(np.percentile(found, 90)) if found else float("nan")
            )
        per = [r["false"] / weeks for _, r in results[label]]
        out["false alerts per series per week (mean)"] = float(np.mean(per))
        out["false alerts per series per week (worst series)"] = float(np.max(per))
        return out

    a, b = figures("robust"), figures("fixed")
    for key in a:
        line(key, a[key], b[key])
    spikes = sum(len(r["delays"]) for _, r in results["robust"])
    rows += ["", f"{spikes} spikes over {len(results['robust'])} series x {args.weeks} weeks", ""]
    rows += per_series(results, args, weeks)
    return rows


def per_series(results: dict, args, weeks: float) -> list[str]:
    """Power for 3x within 15 minutes and false alerts per week, each series (robust /
    fixed), with the series' mean cost per minute."""
    head = "| series | mean cost/min | 3x within 15 min | 2x found | false/week |"
    rows = [head, "| --- | --- | --- | --- | --- |"]
    for (name, r), (_, f) in zip(results["robust"], results["fixed"], strict=True):
        cells = [name, f"{results['means'][name]:.4f}"]
        for factor, limit in ((3.0, 15), (2.0, 10**9)):
            a = _share(r, factor, limit)
            b = _share(f, factor, limit)
            cells.append(f"{a:.2f} / {b:.2f}")
        cells.append(f"{r['false'] / weeks:.2f} / {f['false'] / weeks:.2f}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _share(result: dict, factor: float, limit: int) -> float:
    got = [d for sp, d in result["delays"] if sp.factor == factor]
    return sum(d is not None and d <= limit for d in got) / max(1, len(got))


def main(argv=None) -> None:
    args = options(argv)
    print("\n".join(summary(run(args), args)))


if __name__ == "__main__":
    main()
