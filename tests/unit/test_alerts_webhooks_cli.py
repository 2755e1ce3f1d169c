"""`alerts test`: its arguments, and a receiver that is not configured or not allowed."""

from __future__ import annotations

import argparse

import pytest

from alerts.webhooks.cli import add_test_command, cmd_test, make_test_notification

pytestmark = pytest.mark.unit


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="inferwatch alerts")
    add_test_command(parser.add_subparsers(dest="alerts_cmd", required=True))
    return parser.parse_args(argv)


def test_test_command_takes_a_receiver_and_a_config():
    args = parse(["test", "--receiver", "ops", "--config", "x.yaml"])
    assert (args.receiver, args.config, args.func) == ("ops", "x.yaml", cmd_test)
    with pytest.raises(SystemExit):
        parse(["test"])  # --receiver is required


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("alerts: {webhooks: [{name: a, url: 'http://127.0.0.1:9/x'}]}", "no receiver 'ops'"),
        (
            "alerts: {allowed_hosts: [hooks.example], webhooks: [{name: ops, url: 'http://evil/'}]}",
            "receiver 'ops': host 'evil' is not in alerts.allowed_hosts",
        ),
    ],
)
def test_an_unusable_receiver_exits_2_with_the_reason(tmp_path, capsys, yaml, message):
    (tmp_path / "c.yaml").write_text(yaml)
    args = parse(["test", "--receiver", "ops", "--config", str(tmp_path / "c.yaml")])
    try:
        code = cmd_test(args)
    except SystemExit as exit_:  # refused while loading the config, as any bad setting
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_the_test_notification_is_one_firing_inferwatchtest_alert():
    n = make_test_notification("ops", 5.0, "http://agent")
    [alert] = n.alerts
    assert (alert.name, alert.status(5.0), n.receiver, n.external_url) == (
        "InferwatchTest", "firing", "ops", "http://agent",
    )  # fmt: skip
    assert n.id != make_test_notification("ops", 5.0).id
