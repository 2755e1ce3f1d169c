"""Serving's command-line surface: flags reach the config, bad input is a clear error."""

from __future__ import annotations

import pytest

from agent.cli import build_parser, main, settings_from

pytestmark = pytest.mark.unit


def test_up_flags_reach_the_serving_config(tmp_path):
    args = build_parser().parse_args(
        [
            "up",
            "--model",
            str(tmp_path),
            "--served-model-name",
            "m",
            "--vllm-arg=--max-num-seqs",
            "--vllm-arg=4",
        ]
    )
    s = settings_from(args).serving
    assert (s.model, s.served_model_name, s.extra_args) == (
        str(tmp_path),
        "m",
        ["--max-num-seqs", "4"],
    )


def test_serving_section_from_environment(monkeypatch):
    monkeypatch.setenv("INFERWATCH_SERVING__KV_CACHE_GIB", "3")
    assert settings_from(build_parser().parse_args(["up"])).serving.kv_cache_gib == 3


def test_up_with_a_directory_that_is_no_model_fails_clearly(tmp_path, capsys):
    assert main(["up", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a model directory" in err and "inferwatch model tiny" in err


def test_model_and_demo_subcommands_parse():
    a = build_parser().parse_args(["model", "tiny", "/x"])
    assert (a.kind, a.dir) == ("tiny", "/x")
    d = build_parser().parse_args(["demo-traffic", "--requests", "5", "--url", "http://h:1"])
    assert (d.requests, d.url, d.concurrency) == (5, "http://h:1", 4)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["model", "huge", "/x"])
