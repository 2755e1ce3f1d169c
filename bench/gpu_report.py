"""The markdown and CSV that bench/gpu_compare.py writes from its comparisons."""

from __future__ import annotations

import csv
import time
from pathlib import Path


def _num(x: float, digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"  # x != x: NaN


def quantity_table(rows: list[dict]) -> list[str]:
    """One line per quantity: medians, differences, tolerance, verdict."""
    out = [
        "| quantity | unit | pairs | nvidia-smi median | agent median | median abs diff "
        "| max abs diff | tolerance (median) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        q = r["q"]
        if not r["n"]:
            out.append(f"| {q.name} | {q.unit} | 0 | | | | | | NO DATA |")
            continue
        cells = [r["smi_median"], r["agent_median"], r["median_diff"], r["max_diff"], r["tol"]]
        out.append(
            f"| {q.name} | {q.unit} | {r['n']} | "
            + " | ".join(_num(c) for c in cells)
            + f" | {r['verdict']} |"
        )
    notes = [f"- {r['q'].name}: {r['q'].note}" for r in rows if r["q"].note]
    return [*out, "", *notes]


def process_lines(p: dict) -> list[str]:
    """The serving process's GPU memory, both ways."""
    return [
        f"Server pid {p['pid']}: in {p['n']} of {p['samples']} samples both nvidia-smi "
        f"(--query-compute-apps) and the agent (inferwatch_gpu_process_memory_usage_bytes) "
        f"list it; median abs diff {_num(p['median_diff'])} MiB, max {_num(p['max_diff'])} "
        f"MiB; the agent's vllm label: {', '.join(p['vllm']) or 'none'}.",
    ]


def cost_lines(c: dict) -> list[str]:
    """Per-request cost, the energy part against nvidia-smi, conservation."""
    r, e, k, pr = c["requests"], c["energy"], c["conservation"], c["prices"]
    out = [
        f"Prices: {pr.device_type} at {pr.per_hour} per GPU-hour (busy basis) plus "
        f"{pr.per_kwh} per kWh (includes_energy false).",
        "",
        f"Records in the store: {r['records']} ({r['statuses']}); with a final cost: {r['final']}.",
    ]
    if r.get("final"):
        out.append(
            f"Cost per request: mean {r['mean']:.3e}, p50 {r['p50']:.3e}, p99 {r['p99']:.3e} "
            f"(sum {r['sum']:.3e}); joules per request mean {r['joules_mean']:.2f}, "
            f"GPU-seconds per request mean {r['device_seconds_mean']:.4f}."
        )
    if not e["smi_joules"]:
        return [*out, "", "nvidia-smi gave no energy reading: the energy cost is not checked."]
    out += [
        "",
        f"Between the first and last samples the agent metered {e['metered']:.3e} for the GPU: "
        f"{e['device_seconds']:.1f} GPU-seconds x price = {e['time_part']:.3e}, and energy "
        f"{e['energy_part']:.3e}. nvidia-smi's energy counter moved {e['smi_joules']:,.0f} J, "
        f"x the price per kWh = {e['expected_energy_cost']:.3e}: ratio {_num(e['ratio'], 4)} "
        f"(energy cost {'agrees' if abs(e['ratio'] - 1) <= 0.05 else 'DIFFERS'}, tolerance 5%).",
        "",
        f"At the last sample: requests {k['requests']:.3e} + idle {k['idle']:.3e} against "
        f"metered {k['metered']:.3e} (all devices): ratio {_num(k['ratio'], 4)}; records still "
        f"held {k['held']:.0f}.",
    ]
    return out


def render(run: dict, samples: list, rows: list, procs: dict, cost: dict, load: dict) -> str:
    """The whole report."""
    span = samples[-1]["t"] - samples[0]["t"]
    head = [
        f"# GPU check: {run['card']}{' (DRY RUN: NVML stand-in)' if run.get('dry_run') else ''}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(samples[0]['t']))}; driver "
        f"{run.get('driver', '?')}; torch device {run.get('device', '?')}; {len(samples)} "
        f"samples over {span:.0f} s; collector interval {run['collector_interval_s']} s.",
    ]
    if load:
        head.append(
            f"Load: {load['sent']} requests in {load['elapsed_s']:.0f} s "
            f"({load['requests_per_s']:.1f}/s, concurrency {load['concurrency']}), "
            f"outcomes {load['outcomes']}."
        )
    return "\n".join(
        [
            *head,
            "",
            "## NVML collector against nvidia-smi",
            "",
            *quantity_table(rows),
            "",
            "## Per-process GPU memory",
            "",
            *process_lines(procs),
            "",
            "## Energy-based cost",
            "",
            *cost_lines(cost),
            "",
        ]
    )


def write_pairs(path: Path, rows: list[dict]) -> None:
    """Every paired value: quantity, unit, time, nvidia-smi, agent."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["quantity", "unit", "t", "nvidia_smi", "agent"])
        for r in rows:
            for t, smi, agent in r.get("rows", []):
                w.writerow([r["q"].name, r["q"].unit, f"{t:.3f}", smi, agent])
