"""BENCHMARKS.md is the report assembled from bench/results by bench/collect.py, and stays one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.collect import _demoted, render

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_benchmarks_md_is_what_collect_writes():
    report = (ROOT / "BENCHMARKS.md").read_text()
    assert render() == report, "BENCHMARKS.md is stale: run `python bench/collect.py`"


def test_the_report_keeps_the_record_path_section_for_the_lead():
    assert "\n## Record path (issue 20)\n" in render()


def test_the_report_is_a_few_hundred_lines():
    # 17 areas under one table of targets (issue 22 added five: peers, vLLM's bench serve,
    # open streams, the soak, the GPU check); history goes to bench/NOTES.md.
    assert len(render().splitlines()) <= 480


def test_no_benchmark_text_points_at_tmp_files():
    texts = [ROOT / "BENCHMARKS.md", ROOT / "bench/NOTES.md", *ROOT.glob("bench/results/*.md")]
    offenders = [p.name for p in texts if "/tmp" in p.read_text()]
    assert offenders == []


def test_headings_move_down_a_level_but_not_inside_code_fences():
    text = "# Area\n\n## Part\n\n```\n# a shell comment\n```"
    assert _demoted(text) == "## Area\n\n### Part\n\n```\n# a shell comment\n```"
