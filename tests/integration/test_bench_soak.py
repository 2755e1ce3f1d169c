"""bench/soak.py end to end on a tiny configuration: the emulator, the agent with every
feature on, the dashboard refresher; every answered request found in the store and in the
emulator after the drain, the result file and the picture written."""

from __future__ import annotations

import pytest

from bench import soak

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch, pytest.mark.browser]


def test_a_short_soak_loses_no_record_and_writes_its_report(tmp_path):
    out, png = tmp_path / "soak.md", tmp_path / "soak.png"
    argv = ["--minutes", "0.25", "--rate", "10", "--sample-s", "1", "--alerts-interval-s", "5"]
    soak.main([*argv, "--dashboard-interval-s", "2", "--out", str(out), "--plot", str(png)])
    text = out.read_text()
    assert "Smoke-sized run" in text
    assert "| no record lost (after the drain) |" in text
    assert "lost 0 / 0 | yes |" in text
    assert "- agent loop: " in text  # the stall watch's summary, both loops
    assert "- load generator loop (and the scripted upstream): " in text
    assert png.stat().st_size > 10_000
