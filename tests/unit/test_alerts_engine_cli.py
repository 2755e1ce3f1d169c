"""`alerts silence add|list|expire` through a small parser, as the lead's `inferwatch alerts`."""

from __future__ import annotations

import argparse

import pytest

from alerts import db
from alerts.cli_args import parse_duration
from alerts.engine.cli import add_silence_commands
from alerts.engine.state import EngineState

pytestmark = pytest.mark.unit


def run(*argv):
    parser = argparse.ArgumentParser(prog="inferwatch")
    sub = parser.add_subparsers(dest="command", required=True)
    alerts = sub.add_parser("alerts").add_subparsers(dest="alerts_cmd", required=True)
    add_silence_commands(alerts)
    args = parser.parse_args(["alerts", *argv])
    return args.func(args)


def test_add_list_expire(tmp_path, capsys):
    d = ["--data-dir", str(tmp_path)]
    assert (
        run(
            "silence",
            "add",
            'tenant="acme"',
            'alertname=~"Cost.*"',
            "--duration",
            "2h",
            "--comment",
            "maintenance",
            "--author",
            "ops",
            *d,
        )
        == 0
    )
    out = capsys.readouterr().out
    sid = out.split()[1]
    assert 'tenant="acme", alertname=~"Cost.*" until' in out
    [s] = EngineState(db.connect(tmp_path / "alerts.db")).silences.list(0)
    assert s.id == sid and s.ends_at - s.starts_at == 7200 and s.created_by == "ops"
    assert run("silence", "list", *d) == 0
    listed = capsys.readouterr().out
    assert sid in listed and "active" in listed and "by ops: maintenance" in listed
    assert run("silence", "expire", sid, *d) == 0
    assert f"silence {sid} expired" in capsys.readouterr().out
    run("silence", "list", *d)
    assert capsys.readouterr().out == "no pending or active silences\n"
    run("silence", "list", "--expired", *d)
    expired = capsys.readouterr().out
    assert sid in expired and " expired " in expired


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["add", 'tenant=~"("'], "bad regular expression"),
        (["add", 'tenant=""'], "must not match the empty string"),
        (["add", "tenant"], "expected NAME OP VALUE"),
        (["add", 'a="b"', "--duration", "soon"], "bad duration 'soon'"),
        (["expire", "nope"], "no silence with id 'nope'"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, argv, says):
    assert run("silence", *argv, "--data-dir", str(tmp_path)) == 2
    assert says in capsys.readouterr().err
    run("silence", "list", "--expired", "--data-dir", str(tmp_path))
    assert capsys.readouterr().out == "no silences\n"


def test_data_dir_defaults_to_the_store_folder(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store: {{dir: {tmp_path / 'data'}}}\n")
    assert run("silence", "add", 'a="b"', "--config", str(cfg)) == 0
    assert (tmp_path / "data" / "alerts.db").exists()


def test_durations():
    assert [parse_duration(t) for t in ("90", "90s", "30m", "2h", "1d", "1w")] == [
        90,
        90,
        1800,
        7200,
        86400,
        604800,
    ]
