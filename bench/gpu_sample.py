"""The sampler of bench/gpu_check.sh: every few seconds, at the same moment, the agent's
/metrics (its GPU and cost families) and nvidia-smi's readings of the GPU and of its compute
processes, appended raw to a JSON-lines file for bench/gpu_compare.py.

    python -m bench.gpu_sample --agent URL --out FILE [--interval 5] [--duration 180 | --once]

nvidia-smi is the one on PATH (the dry run puts its stand-in there).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import aiohttp
import orjson

GPU_QUERY = (
    "utilization.gpu,memory.used,memory.total,power.draw,total_energy_consumption,"
    "temperature.gpu,clocks.sm,clocks.mem"
)
KEPT = ("hw_gpu_", "inferwatch_gpu_", "inferwatch_cost_", "gen_ai_server_request_duration")


async def smi(*args: str) -> str:
    """nvidia-smi's output for `args` (its error text, prefixed, when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        "nvidia-smi", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    return out.decode() if proc.returncode == 0 else f"ERROR {proc.returncode}: {err.decode()}"


async def metrics(session: aiohttp.ClientSession, url: str) -> str:
    """The lines of the agent's /metrics page this check compares (the rest is left out)."""
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    return "\n".join(line for line in text.splitlines() if _kept(line))


def _kept(line: str) -> bool:
    """A sample of a kept family, or its HELP/TYPE line (the parser needs the types)."""
    if line.startswith("# "):
        parts = line.split(" ", 3)
        return len(parts) > 2 and parts[2].startswith(KEPT)
    return line.startswith(KEPT)


async def sample(session: aiohttp.ClientSession, url: str) -> dict:
    """One paired sample: the three readings started together, with when they began."""
    t = time.time()
    gpu, apps, page = await asyncio.gather(
        smi(f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"),
        smi("--query-compute-apps=pid,used_memory", "--format=csv"),
        metrics(session, url),
    )
    return {"t": t, "took_s": time.time() - t, "smi_gpu": gpu, "smi_apps": apps, "metrics": page}


async def run(url: str, out: Path, interval: float, duration: float | None) -> int:
    """Sample every `interval` seconds for `duration` (None: once); returns the count."""
    end, count = time.monotonic() + (duration or 0), 0
    async with aiohttp.ClientSession() as session:
        while True:
            row = await sample(session, url)
            with out.open("ab") as f:
                f.write(orjson.dumps(row) + b"\n")
            count += 1
            if duration is None or time.monotonic() + interval > end:
                return count
            await asyncio.sleep(interval - (time.time() - row["t"]) % interval)


def main(argv: list[str] | None = None) -> int:
    """Sample until the duration is over."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--agent", required=True, help="the agent's base URL")
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to append to")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--duration", type=float, help="seconds to sample for")
    what.add_argument("--once", action="store_true", help="take one sample")
    args = p.parse_args(argv)
    n = asyncio.run(run(args.agent.rstrip("/"), args.out, args.interval, args.duration))
    print(f"gpu_sample: {n} samples in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
