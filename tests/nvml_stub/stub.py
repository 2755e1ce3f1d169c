"""Build the stand-in NVML library with gcc and write the scripts it reads.

The library is loaded by the real `nvidia-ml-py` bindings (through the collector's
`library=` preload, or LD_LIBRARY_PATH in a subprocess), so the ctypes path is the real one.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("nvml_stub.c")
MODELS = ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA L4")


def build(out_dir: Path) -> Path:
    """Compile the stub into `out_dir` as libnvidia-ml.so.1 (reused when the source is unchanged)."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    lib_dir = out_dir / f"nvml-{digest}"
    lib = lib_dir / "libnvidia-ml.so.1"
    if lib.exists():
        return lib
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the stand-in NVML library")
    lib_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-Wl,-soname,libnvidia-ml.so.1"]
    subprocess.run([*cmd, "-o", str(lib), str(SOURCE), "-lpthread"], check=True)
    return lib


def gpu(index: int, **over) -> list[str]:
    """Script lines of one healthy GPU with fixed values, `over` replacing any of them."""
    values = {
        "name": MODELS[index % len(MODELS)],
        "uuid": f"GPU-{index:08d}-0000-4000-8000-000000000000",
        "busid": f"00000000:{index + 7:02X}:00.0",
        "util": "75 40",
        "mem": f"{80 * 2**30} {20 * 2**30} {59 * 2**30}",
        "power": "250000",
        "energy": "1000000",
        "temp": "61",
        "clocks": "1410 1593",
        "reasons": "0x4",
    }
    values.update({k: str(v) for k, v in over.items()})
    return [f"gpu {index} {k} {v}" for k, v in values.items()]


def write_script(path: Path, gpus: int, extra: list[str] = (), **over) -> Path:
    """Write a script of `gpus` healthy GPUs plus `extra` lines (failures, processes, xids)."""
    lines = [f"count {gpus}"]
    for i in range(gpus):
        lines += gpu(i, **over)
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


@pytest.fixture(scope="session")
def nvml_lib(tmp_path_factory) -> Path:
    """Path of the compiled stand-in library (one build per test session)."""
    return build(tmp_path_factory.getbasetemp())


@pytest.fixture
def script(tmp_path, monkeypatch):
    """`script(gpus, extra, **over)` writes a fresh script file and points the stub at it."""
    count = 0

    def write(gpus: int, extra: list[str] = (), **over) -> Path:
        nonlocal count
        count += 1  # a new file each time: the stub notices the change whatever the mtime
        path = write_script(tmp_path / f"nvml-{count}.txt", gpus, extra, **over)
        monkeypatch.setenv("NVML_STUB_CONFIG", str(path))
        return path

    return write
