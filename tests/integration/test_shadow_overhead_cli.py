"""bench/shadow_overhead.py's command line runs a tiny configuration end to end (real
stand-in upstreams and agents, each its own process) and writes its table; bad options are
clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.shadow_overhead import parse_args

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_tiny_run_writes_every_figure_and_counts_the_copies(tmp_path):
    out = tmp_path / "shadow.md"
    argv = ["--load", "instant", "--configs", "off,after", "--rounds", "2", "--requests", "12"]
    done = subprocess.run(
        [
            sys.executable,
            "bench/shadow_overhead.py",
            *argv,
            "--boot",
            "100",
            "--markdown",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "| instant c4 stream | latency p99 ms |" in text
    assert "after/off [95% CI]" in text and "agent CPU ms/request" in text
    assert "after ok 36" in text  # a copy of every primary request, warm-up included
    assert "instant c4 stream, latency p99: after/off" in done.stdout


def test_bad_options_are_clear_errors(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--configs", "off,sideways"])
    assert "unknown sideways" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--configs", "off"])
    assert "a baseline and at least one other" in capsys.readouterr().err
    assert parse_args(["--load", "paced"]).loads == ["paced"]
