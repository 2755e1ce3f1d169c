"""The report of bench/gpu_check.sh: the agent's NVML readings against nvidia-smi's, read at
the same moments (bench/gpu_sample.py), per-process GPU memory, and the energy-based cost
per request.

    python -m bench.gpu_compare --samples FILE --run RUN.json --store SQLITE \
        [--load LOAD.json] --report OUT.md --pairs OUT.csv

Per quantity: the median and the largest absolute difference, in the report's unit, and a
verdict against a stated tolerance on the median (max(absolute, relative x nvidia-smi's
median)). The agent's gauges are those of its last collector tick, up to one interval old.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.gpu_cost import Prices, conservation, energy_cost, request_costs
from bench.gpu_parse import (
    QUANTITIES,
    Quantity,
    agent_processes,
    agent_value,
    parse_agent,
    parse_smi_apps,
    parse_smi_gpu,
)

# A collector tick can start late on a busy event loop, and the counter itself updates in
# steps: one second more than the interval the agent's reading can be old.
TICK_JITTER_S = 1.0


def load_samples(path: Path) -> list[dict]:
    """Each sample parsed: t, smi (SI by field), apps, agent values."""
    out = []
    for line in path.read_text().splitlines():
        raw = json.loads(line)
        out.append(
            {
                "t": raw["t"],
                "took_s": raw["took_s"],
                "smi": parse_smi_gpu(raw["smi_gpu"]),
                "apps": parse_smi_apps(raw["smi_apps"]),
                "agent": parse_agent(raw["metrics"]),
            }
        )
    if len(out) < 2:
        raise ValueError(f"{path}: {len(out)} samples, at least 2 are needed")
    return out


def pairs(samples: list[dict], q: Quantity) -> list[tuple[float, float, float]]:
    """(t, nvidia-smi, agent) in the report's unit, where both have a value."""
    out = []
    for s in samples:
        smi, agent = s["smi"].get(q.smi_field), agent_value(s["agent"], q)
        if smi is not None and agent is not None:
            out.append((s["t"], smi * q.si_to_unit, agent * q.si_to_unit))
    return out


def tolerance(q: Quantity, rows: list, samples: list[dict], interval: float) -> float:
    """The tolerance of the median difference, in the report's unit."""
    if q.name == "energy":  # how far the counter moves while the agent's reading ages
        power = [s["smi"].get("power.draw") or 0.0 for s in samples]
        took = max(s["took_s"] for s in samples)
        return max(power) * (interval + took + TICK_JITTER_S)
    return max(q.tol_abs, q.tol_rel * float(np.median([r[1] for r in rows])))


def judge(q: Quantity, samples: list[dict], interval: float) -> dict:
    """One quantity's row of the report."""
    rows = pairs(samples, q)
    if not rows:
        return {"q": q, "n": 0, "verdict": "NO DATA"}
    diff = np.abs([a - s for _, s, a in rows])
    tol = tolerance(q, rows, samples, interval)
    median = float(np.median(diff))
    return {
        "q": q,
        "n": len(rows),
        "smi_median": float(np.median([r[1] for r in rows])),
        "agent_median": float(np.median([r[2] for r in rows])),
        "median_diff": median,
        "max_diff": float(diff.max()),
        "tol": tol,
        "verdict": "agrees" if median <= tol else "DIFFERS",
        "rows": rows,
    }


def processes(samples: list[dict], pid: int) -> dict:
    """The server process's GPU memory, nvidia-smi's against the agent's (MiB)."""
    diffs, vllm, seen = [], set(), 0
    for s in samples:
        smi, agent = s["apps"].get(pid), agent_processes(s["agent"]).get(pid)
        if smi is None or agent is None:
            continue
        seen += 1
        diffs.append(abs(agent[0] - smi) / 2**20)
        vllm.add(agent[1])
    return {
        "pid": pid,
        "n": seen,
        "samples": len(samples),
        "vllm": sorted(vllm),
        "median_diff": float(np.median(diffs)) if diffs else float("nan"),
        "max_diff": float(max(diffs)) if diffs else float("nan"),
    }


def cost_section(samples: list[dict], run: dict, store: Path) -> dict:
    """Per-request costs, the energy part against nvidia-smi's energy, conservation."""
    prices = Prices(run["card"], run["gpu_price_per_hour"], run["energy_price_per_kwh"])
    first, last = samples[0], samples[-1]
    field = "total_energy_consumption"
    joules = (last["smi"][field] or 0.0) - (first["smi"][field] or 0.0)
    return {
        "requests": request_costs(store),
        "energy": energy_cost(first["agent"], last["agent"], joules, prices),
        "conservation": conservation(last["agent"]),
        "prices": prices,
    }


def main(argv: list[str] | None = None) -> int:
    """Write the report and the paired samples."""
    from bench.gpu_report import render, write_pairs

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--samples", required=True, type=Path, help="gpu_sample.py's JSON lines")
    p.add_argument("--run", required=True, type=Path, help="gpu_check.sh's run.json")
    p.add_argument("--store", required=True, type=Path, help="the agent's requests.sqlite3")
    p.add_argument("--load", type=Path, help="gpu_load.py's summary")
    p.add_argument("--report", required=True, type=Path, help="markdown report to write")
    p.add_argument("--pairs", required=True, type=Path, help="CSV of paired values to write")
    args = p.parse_args(argv)
    run = json.loads(args.run.read_text())
    samples = load_samples(args.samples)
    rows = [judge(q, samples, run["collector_interval_s"]) for q in QUANTITIES]
    load = json.loads(args.load.read_text()) if args.load and args.load.exists() else {}
    procs = processes(samples, run["server_pid"])
    cost = cost_section(samples, run, args.store)
    args.report.write_text(render(run, samples, rows, procs, cost, load))
    write_pairs(args.pairs, rows)
    print(args.report.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
