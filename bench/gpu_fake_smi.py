"""A stand-in `nvidia-smi` for the dry run of bench/gpu_check.sh: answers the queries the
check makes from the NVML stand-in's script file (NVML_STUB_CONFIG), the file the agent's
collector reads through the stand-in libnvidia-ml.so, in nvidia-smi's CSV format:

    nvidia-smi --query-gpu=FIELD,... --format=csv[,noheader][,nounits]
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv[,noheader][,nounits]

Memory in MiB (rounded down), power in W with two decimals, energy in mJ, clocks in MHz,
as the real one prints them. Only GPU 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MIB = 2**20
# field -> (value from the script's values, unit nvidia-smi appends without `nounits`)
GPU_FIELDS = {
    "name": (lambda v: " ".join(v["name"]), ""),
    "uuid": (lambda v: v["uuid"][0], ""),
    "index": (lambda v: "0", ""),
    "driver_version": (lambda v: "stand-in", ""),
    "utilization.gpu": (lambda v: v["util"][0], " %"),
    "memory.used": (lambda v: str(int(v["mem"][1]) // MIB), " MiB"),
    "memory.total": (lambda v: str(int(v["mem"][0]) // MIB), " MiB"),
    "power.draw": (lambda v: f"{int(v['power'][0]) / 1000:.2f}", " W"),
    "total_energy_consumption": (lambda v: v["energy"][0], " mJ"),
    "temperature.gpu": (lambda v: v["temp"][0], ""),
    "clocks.sm": (lambda v: v["clocks"][0], " MHz"),
    "clocks.mem": (lambda v: v["clocks"][1], " MHz"),
}
HEADERS = {"utilization.gpu": "utilization.gpu [%]", "memory.used": "memory.used [MiB]"}


def read_script(path: Path) -> tuple[dict[str, list[str]], list[tuple[str, int]]]:
    """GPU 0's values by key, and its processes as (pid, bytes)."""
    values: dict[str, list[str]] = {}
    procs: list[tuple[str, int]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0] != "gpu" or parts[1] != "0":
            continue
        if parts[2] == "proc":
            procs.append((parts[3], int(parts[4])))
        else:
            values[parts[2]] = parts[3:]
    return values, procs


def render(rows: list[list[str]], header: list[str], fmt: str) -> str:
    """CSV as nvidia-smi prints it: ', ' between fields, a header unless `noheader`."""
    lines = [] if "noheader" in fmt else [", ".join(header)]
    return "\n".join(lines + [", ".join(r) for r in rows]) + "\n"


def query_gpu(fields: list[str], values: dict, units: bool) -> list[str]:
    """One row of the asked fields ('[N/A]' for one the script lacks, as the real one)."""
    row = []
    for f in fields:
        if f not in GPU_FIELDS:
            raise SystemExit(f'Field "{f}" is not a valid field to query.')
        get, unit = GPU_FIELDS[f]
        try:
            row.append(get(values) + (unit if units else ""))
        except (KeyError, IndexError):
            row.append("[N/A]")
    return row


def main(argv: list[str] | None = None) -> int:
    """Print the answer to one query."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--query-gpu", help="comma-separated GPU fields")
    p.add_argument("--query-compute-apps", help="comma-separated fields: pid,used_memory")
    p.add_argument("--format", default="csv", help="csv[,noheader][,nounits]")
    args = p.parse_args(argv)
    script = os.environ.get("NVML_STUB_CONFIG")
    if not script:
        print("NVIDIA-SMI stand-in: NVML_STUB_CONFIG is not set", file=sys.stderr)
        return 9
    values, procs = read_script(Path(script))
    units = "nounits" not in args.format
    if args.query_gpu:
        fields = args.query_gpu.split(",")
        header = [HEADERS.get(f, f) for f in fields]
        sys.stdout.write(render([query_gpu(fields, values, units)], header, args.format))
        return 0
    if args.query_compute_apps:
        unit = " MiB" if units else ""
        rows = [[pid, f"{used // MIB}{unit}"] for pid, used in procs]
        sys.stdout.write(render(rows, ["pid", "used_gpu_memory [MiB]"], args.format))
        return 0
    p.error("give --query-gpu or --query-compute-apps")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
