"""`inferwatch alerts`: silences and test notifications (the engine runs inside `up`)."""

from __future__ import annotations

from alerts.engine.cli import add_silence_commands
from alerts.webhooks.cli import add_test_command


def add_alerts_command(sub) -> None:
    """Register `inferwatch alerts silence ...` and `inferwatch alerts test ...`."""
    p = sub.add_parser(
        "alerts",
        help="silence alerts, send a test notification",
        description="The agent's alert engine runs inside `inferwatch up` (alerts.enabled). "
        "These commands work on its database in the data folder, also while it runs.",
    )
    asub = p.add_subparsers(dest="alerts_cmd", required=True, metavar="ACTION")
    add_silence_commands(asub)
    add_test_command(asub)
