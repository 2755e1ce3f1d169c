"""bench/peers.py's command line runs a tiny configuration end to end (the instant upstream,
the floor, the agent and, where its virtual environment was built, LiteLLM, each its own
process) and writes its report, labelled smoke-sized."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers_litellm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--rounds", "2", "--requests-c1", "8", "--requests-high", "16"]
TINY += ["--high-concurrency", "4", "--boot", "100"]


def _run(tmp_path: Path, targets: str) -> tuple[str, str]:
    out = tmp_path / "peers.md"
    argv = [sys.executable, "bench/peers.py", *TINY, "--targets", targets, "--markdown", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_text(), done.stderr


def test_a_tiny_run_without_litellm_measures_direct_floor_and_agent(tmp_path):
    text, err = _run(tmp_path, "floor,inferwatch")
    assert "estimated wall time" in err
    assert "**Smoke-sized run**" in text and "machine load: load average" in text
    assert "| c1 json | added p50 ms |" in text and "| c4 stream | first chunk p99 ms |" in text
    assert "| all | failed requests | 0.000 | 0.000 | 0.000 |" in text
    assert "(c4 json): inferwatch/floor" in text  # requests/s at the high concurrency judged
    assert text.count("- not measured:") == 4  # LiteLLM's targets


@pytest.mark.skipif(
    peers_litellm.installed() is None,
    reason=f"LiteLLM's virtual environment ({peers_litellm.VENV}) is absent: "
    "`python bench/peers.py --setup` builds it from PyPI; CI does not",
)
def test_a_tiny_run_with_litellm_judges_every_target(tmp_path):
    text, _ = _run(tmp_path, "floor,inferwatch,litellm")
    assert f"LiteLLM {peers_litellm.installed()}" in text
    assert "- not measured:" not in text and "inferwatch/litellm" in text
    assert "| all | failed requests | 0.000 | 0.000 | 0.000 | 0.000 |" in text
