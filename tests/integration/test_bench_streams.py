"""bench/streams.py end to end on a tiny configuration: a paced upstream, the agent and the
probe as processes, a few streams held open, the result file written."""

from __future__ import annotations

import pytest

from bench import streams

pytestmark = pytest.mark.integration


def test_a_few_streams_are_held_open_and_reported(tmp_path):
    out = tmp_path / "streams.md"
    argv = ["--streams", "20", "--ramp-s", "1", "--hold-s", "2", "--rest-s", "1"]
    assert streams.main([*argv, "--itl-ms", "20", "--out", str(out)]) == 0
    text = out.read_text()
    assert "Smoke-sized run" in text
    assert "| streams open together, errors | 20 of 20, 0 errors |" in text
    assert "chunks per agent CPU-second" in text
