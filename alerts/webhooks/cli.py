"""`inferwatch alerts test --receiver NAME`: send one test notification to a receiver now,
directly (not through the outbox), and print what came back."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

import aiohttp

from alerts.config import AlertsConfig
from alerts.model import FIRING, Alert, Notification
from alerts.webhooks.delivery import SENT, Outcome, attempt
from alerts.webhooks.hosts import ReceiverError, check_receivers

TEST_ALERT = "InferwatchTest"


def add_test_command(alerts_subparsers) -> None:
    """Register `test` under the `inferwatch alerts` sub-parsers."""
    p = alerts_subparsers.add_parser(
        "test",
        help="send a test notification to a webhook receiver",
        description="Send one notification (alertname InferwatchTest) to the receiver now, "
        "in its format and signed with its secret, without the outbox. Prints the HTTP "
        "status, the time taken and the start of the receiver's answer. Exit 0 when the "
        "receiver accepted it (2xx), 1 when not, 2 for a bad configuration.",
    )
    p.add_argument("--receiver", metavar="NAME", required=True, help="alerts.webhooks name")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file. Precedence: defaults < FILE < INFERWATCH_* environment < flags.",
    )
    p.set_defaults(func=cmd_test)


def make_test_notification(receiver: str, now: float, external_url: str = "") -> Notification:
    """The notification `alerts test` sends: one firing InferwatchTest alert."""
    alert = Alert(
        labels={"alertname": TEST_ALERT, "severity": "none"},
        annotations={"summary": "Test notification from `inferwatch alerts test`"},
        starts_at=now,
    )
    return Notification(
        id=f"test-{uuid.uuid4().hex}",
        receiver=receiver,
        group_key=f'{{}}:{{alertname="{TEST_ALERT}"}}',
        status=FIRING,
        group_labels={"alertname": TEST_ALERT},
        alerts=(alert,),
        created_at=now,
        external_url=external_url,
    )


async def send_test(config: AlertsConfig, receiver: str, now: float) -> Outcome:
    """Deliver a test notification to `receiver`; ReceiverError when it cannot be used."""
    check_receivers(config)
    hooks = {h.name: h for h in config.webhooks}
    if receiver not in hooks:
        raise ReceiverError(f"no receiver {receiver!r} in alerts.webhooks (have {sorted(hooks)})")
    n = make_test_notification(receiver, now, config.external_url)
    async with aiohttp.ClientSession() as session:
        return await attempt(session, hooks[receiver], n, now)


def cmd_test(args: argparse.Namespace) -> int:
    """Run `alerts test` and print its outcome."""
    from agent.cli import settings_from  # the main CLI imports this module

    config = settings_from(args).alerts
    try:
        outcome = asyncio.run(send_test(config, args.receiver, time.time()))
    except ReceiverError as err:
        print(f"inferwatch: {err}", file=sys.stderr)
        return 2
    status = outcome.status if outcome.status is not None else "-"
    print(
        f"receiver {args.receiver}: {outcome.result} (HTTP {status}) in {outcome.elapsed_s:.3f} s"
    )
    print(f"  {outcome.detail}")
    return 0 if outcome.result == SENT else 1
