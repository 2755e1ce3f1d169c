"""Differential test against the real Alertmanager (Debian's `prometheus-alertmanager`):
the same alerts posted to it and rendered by alerts/webhooks/alertmanager.py give the same
webhook body, byte for byte."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import datetime

import aiohttp
import pytest
from aiohttp import web

from alerts.model import Alert, Notification
from alerts.webhooks import alertmanager
from tests.conftest import free_port, start_app

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

EXTERNAL = "http://alertmanager.example:9093"
CONFIG = """
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}
receivers:
- name: hook
  webhook_configs: [{url: "%s", send_resolved: true}]
"""
ALERTS = [
    {
        "labels": {"alertname": "InferwatchCostSpike", "tenant": "a&b", "zone": "ü<1>"},
        "annotations": {"summary": "spend 3x the baseline", "description": "line\nbreak"},
        "startsAt": "2024-05-01T10:00:00.25Z",
        "generatorURL": "http://agent:8000/alerts?x=1&y=2",
    },
    {
        "labels": {"alertname": "InferwatchCostSpike", "tenant": "c", "zone": "ü<1>"},
        "annotations": {"summary": "spend 3x the baseline"},
        "startsAt": "2024-05-01T10:00:03Z",
    },
]


def _resolved(alerts: list[dict]) -> list[dict]:
    return [{**a, "endsAt": "2024-05-01T10:05:00.5Z"} for a in alerts]


async def _capture_alertmanager_posts(tmp_path) -> list[bytes]:
    """The bodies Alertmanager posts for ALERTS firing, then for ALERTS resolved."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, url = await start_app(app)
    (tmp_path / "am.yml").write_text(CONFIG % f"{url}/hook")
    port = free_port()
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "alertmanager missing: install the Debian package prometheus-alertmanager"
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url={EXTERNAL}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(60), aiohttp.ClientSession() as s:
            api = f"http://127.0.0.1:{port}/api/v2/alerts"
            await _post_when_ready(s, api, ALERTS)
            firing = await received.get()
            await _post_when_ready(s, api, _resolved(ALERTS))
            return [firing, await received.get()]
    finally:
        proc.terminate()
        proc.wait(10)
        await runner.cleanup()


async def _post_when_ready(s: aiohttp.ClientSession, url: str, alerts: list[dict]) -> None:
    while True:
        try:
            async with s.post(url, json=alerts) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _our_rendering(sent: dict, alerts: list[dict]) -> bytes:
    """Our notification of the same alerts, in the order Alertmanager put them."""
    by_fp = {}
    for a in alerts:
        ends = _epoch(a["endsAt"]) if "endsAt" in a else None
        alert = Alert(
            a["labels"], a["annotations"], _epoch(a["startsAt"]), ends, a.get("generatorURL", "")
        )
        by_fp[alert.fingerprint] = alert
    n = Notification(
        id="n1",
        receiver="hook",
        group_key=sent["groupKey"],  # the engine's key format is its own
        status=sent["status"],
        group_labels={"alertname": "InferwatchCostSpike"},
        alerts=tuple(by_fp[a["fingerprint"]] for a in sent["alerts"]),
        created_at=_epoch("2024-05-01T10:06:00Z"),
        external_url=EXTERNAL,
    )
    return alertmanager.render(n)


async def test_payload_matches_the_real_alertmanager_byte_for_byte(tmp_path):
    firing, resolved = await _capture_alertmanager_posts(tmp_path)
    for body, alerts, status in (
        (firing, ALERTS, "firing"),
        (resolved, _resolved(ALERTS), "resolved"),
    ):
        sent = json.loads(body)
        assert (sent["version"], sent["status"], len(sent["alerts"])) == ("4", status, 2)
        ours = _our_rendering(sent, alerts)
        assert list(json.loads(ours)) == list(sent)  # same keys, same order
        assert ours == body.rstrip(b"\n")
