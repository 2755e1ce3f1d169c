"""End to end with the real servers: a real Prometheus scrapes a live agent every second
and evaluates the shipped rules, the error-ratio alert fires, and the real Alertmanager,
configured from the shipped example, posts it to a test receiver.

The rules run as shipped except for `for:`, which the test's copy sets to 0s (a 5-minute
hold would make the test last minutes); the expressions are unchanged. The alert chosen,
InferwatchHighErrorRatio, fires fast: its ratio of 5-minute rates has a value after two
scrapes, and every request the test upstream answers with 500 counts as an error.

Regenerate tests/fixtures/alertmanager-webhook-v4.json (a real payload, pretty-printed)
with INFERWATCH_UPDATE_GOLDEN=1; otherwise the live payload is held to its fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from alerts.model import fingerprint
from alerts.rules.load import ALERTMANAGER_EXAMPLE, RULE_FILES
from tests.alertmanager_server import alertmanager, prometheus
from tests.conftest import start_app
from tests.http import post

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

FIXTURE = Path(__file__).parents[1] / "fixtures" / "alertmanager-webhook-v4.json"
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "a b c"}]}
ALERT = "InferwatchHighErrorRatio"


class Receiver:
    """A webhook receiver: keeps every JSON body posted to /alerts."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []
        self.changed = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/alerts", self.alerts)

    async def alerts(self, request: web.Request) -> web.Response:
        self.payloads.append(await request.json())
        self.changed.set()
        return web.Response(text="ok")

    async def first_with(self, alertname: str) -> dict:
        """The first payload holding a firing alert named `alertname`."""
        while True:
            for p in self.payloads:
                if any(a["labels"]["alertname"] == alertname for a in p["alerts"]):
                    return p
            self.changed.clear()
            await self.changed.wait()


def _rules_with_short_for(dest: Path) -> list[str]:
    """Copies of the rule files with every `for` set to 0s; returns their paths."""
    paths = []
    for src in RULE_FILES:
        doc = yaml.safe_load(src.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "0s"
        (dest / src.name).write_text(yaml.safe_dump(doc))
        paths.append(str(dest / src.name))
    return paths


def _alertmanager_config(receiver_url: str) -> dict:
    """The shipped example, pointed at the test receiver, with 1 s grouping waits."""
    config = yaml.safe_load(ALERTMANAGER_EXAMPLE.read_text())
    [hook] = config["receivers"][0]["webhook_configs"]
    hook["url"] = receiver_url + "/alerts"
    config["route"].update(group_wait="1s", group_interval="1s")
    return config


def _prometheus_config(rule_files: list[str], agent_url: str, am_url: str) -> dict:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am_url[7:]]}]}]},
        "scrape_configs": [
            {"job_name": "inferwatch", "static_configs": [{"targets": [agent_url[7:]]}]}
        ],
    }


async def _fail_requests(url: str) -> None:
    """Requests the test upstream answers with 500, one every 0.2 s, until cancelled."""
    while True:
        status, _, _ = await post(url + "/v1/chat/completions", CHAT, {"x-fake-status": "500"})
        assert status == 500
        await asyncio.sleep(0.2)


async def test_a_shipped_alert_reaches_a_webhook_via_real_alertmanager_test_upstream(
    tmp_path, fake_upstream, start_agent
):
    ra = await start_agent(fake_upstream.url)
    receiver = Receiver()
    runner, receiver_url = await start_app(receiver.app)
    failing = asyncio.create_task(_fail_requests(ra.url))
    try:
        async with alertmanager(tmp_path, _alertmanager_config(receiver_url)) as am_url:
            config = _prometheus_config(_rules_with_short_for(tmp_path), ra.url, am_url)
            async with prometheus(tmp_path, config) as prom_url, asyncio.timeout(90):
                payload = await receiver.first_with(ALERT)
    finally:
        failing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await failing
        await runner.cleanup()
    _check_payload(payload, am_url, prom_url)
    _check_against_fixture(payload)


def _check_payload(payload: dict, am_url: str, prom_url: str) -> None:
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "inferwatch-webhook"
    assert payload["externalURL"] == am_url
    assert payload["truncatedAlerts"] == 0
    assert payload["groupLabels"] == {"alertname": ALERT, "gen_ai_request_model": "fake-model"}
    [alert] = [a for a in payload["alerts"] if a["labels"]["alertname"] == ALERT]
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": ALERT,
        "severity": "critical",
        "gen_ai_request_model": "fake-model",
    }
    assert alert["annotations"] == {
        "summary": "fake-model: 100% of requests fail",
        "description": "Over 5% of requests to fake-model ended in an error for 5 minutes"
        " (see inferwatch_upstream_errors_total by error_type).",
        "runbook_url": "https://github.com/inferwatch/inferwatch/blob/main/README.md"
        "#inferwatchhigherrorratio",
    }
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"  # firing: no end yet
    assert alert["generatorURL"].startswith(prom_url + "/graph?g0.expr=")
    # The real Alertmanager's fingerprint is the one the agent's own engine computes.
    assert alert["fingerprint"] == fingerprint(alert["labels"])


def _check_against_fixture(payload: dict) -> None:
    """The saved payload has the live one's fields, at the top and in each alert (saved
    in the order Alertmanager wrote them)."""
    if os.environ.get("INFERWATCH_UPDATE_GOLDEN"):
        FIXTURE.write_text(json.dumps(payload, indent=2) + "\n")
    saved = json.loads(FIXTURE.read_text())
    assert set(saved) == set(payload)
    assert set(saved["alerts"][0]) == set(payload["alerts"][0])
    assert saved["version"] == "4"
