"""The dry run's GPU (bench/gpu_check.sh --dry-run): drives the NVML stand-in of the tests
(tests/nvml_stub, the library the integration tests load) through its script file, so that
the agent's NVML collector and the stand-in nvidia-smi (bench/gpu_fake_smi.py) read one
changing GPU: utilisation and power that vary, an energy counter that integrates the power,
and the serving process's GPU memory.

    python -m bench.gpu_fake --script FILE --pid SERVER_PID [--tick 0.5]

Runs until killed. The stand-in re-reads the file when it changes (written atomically).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

NAME = "NVIDIA H100 80GB HBM3 (stand-in)"
MIB = 2**20
TOTAL = 80 * 1024 * MIB
BASE_USED = 512 * MIB  # what the driver holds with no process (nvidia-smi shows it too)


@dataclass
class FakeGpu:
    """One stand-in GPU at `t` seconds: values derived from time, energy integrated."""

    pid: int
    energy_mj: float = 5_000_000.0  # the counter counts from the driver's load, not from 0
    t: float = 0.0

    def advance(self, dt: float) -> None:
        """Move `dt` seconds on: the energy counter adds power x time (mW x s = mJ)."""
        self.t += dt
        self.energy_mj += self.power_mw() * dt

    def util(self) -> int:
        return int(45 + 35 * math.sin(self.t / 7))

    def power_mw(self) -> int:
        return 90_000 + 2_500 * self.util()

    def proc_bytes(self) -> int:
        return (1024 + 16 * (int(self.t) % 8)) * MIB

    def lines(self) -> list[str]:
        """The stand-in's script for this moment (tests/nvml_stub/nvml_stub.c's format)."""
        used = BASE_USED + self.proc_bytes()
        return [
            "count 1",
            f"gpu 0 name {NAME}",
            "gpu 0 uuid GPU-00000000-0000-4000-8000-00000000dead",
            "gpu 0 busid 00000000:07:00.0",
            f"gpu 0 util {self.util()} {self.util() // 3}",
            f"gpu 0 mem {TOTAL} {used} {TOTAL - used}",
            f"gpu 0 power {self.power_mw()}",
            f"gpu 0 energy {int(self.energy_mj)}",
            f"gpu 0 temp {40 + self.util() // 4}",
            f"gpu 0 clocks {1755 + 5 * (self.util() % 10)} 2619",
            "gpu 0 reasons 0x0",
            f"gpu 0 proc {self.pid} {self.proc_bytes()}",
        ]


def write(path: Path, lines: list[str]) -> None:
    """Replace the script in one step: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Write the script every `tick` seconds until killed."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--script", required=True, type=Path, help="the stand-in's script file")
    p.add_argument("--pid", required=True, type=int, help="the serving process's pid")
    p.add_argument("--tick", type=float, default=0.5, help="seconds between two updates")
    args = p.parse_args(argv)
    gpu, last = FakeGpu(args.pid), time.monotonic()
    while True:
        now = time.monotonic()
        gpu.advance(now - last)
        last = now
        write(args.script, gpu.lines())
        time.sleep(args.tick)


if __name__ == "__main__":
    raise SystemExit(main())
