"""Drift, then an alert, end to end: requests through a live agent change shape, the
detectors (in their own process) read the agent's store, the engine groups the alert,
and a signed Alertmanager-format webhook reaches a receiver. Windows of a few seconds
(every duration is config), so the whole scenario takes well under a minute. The
upstream is the scripted fake (tests/fake_upstream.py), not vLLM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import load_catalogue
from alerts.webhooks.signing import HEADER, verify
from tests.conftest import start_app

pytestmark = pytest.mark.integration

SECRET = "test-signing-secret"


class Receiver:
    """A webhook receiver that keeps every body and its signature header."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, str]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/hook", self.hook)

    async def hook(self, request: web.Request) -> web.Response:
        self.posts.append((await request.read(), request.headers.get(HEADER, "")))
        self.arrived.set()
        return web.Response(text="ok")

    def payloads(self) -> list[dict]:
        return [json.loads(body) for body, _ in self.posts]


@pytest.fixture
async def receiver():
    r = Receiver()
    runner, r.url = await start_app(r.app)
    yield r
    await runner.cleanup()


def alerts_settings(receiver_url: str, **over) -> dict:
    return {
        "enabled": True,
        "interval_s": 1.0,
        "drift": {"window_s": 6.0, "reference_s": 6.0, "min_rows": 30},
        "cost": {"enabled": False},
        "route": {
            "receivers": ["hook"],
            "group_wait_s": 0.5,
            "group_interval_s": 2.0,
            "repeat_interval_s": 3600.0,
        },
        "webhooks": [{"name": "hook", "url": receiver_url + "/hook", "secret": SECRET}],
        "allowed_hosts": ["127.0.0.1"],
        "delivery": {"poll_interval_s": 0.2},
        **over,
    }


async def traffic(url: str, tokens: int, n: int, seconds: float) -> None:
    """n chat requests whose answers have `tokens` completion tokens, spread over `seconds`."""
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            body = {"model": "fake-model", "messages": [{"role": "user", "content": f"q {i}"}]}
            headers = {"x-fake-tokens": str(tokens)}
            async with s.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                assert r.status == 200
                await r.read()
            await asyncio.sleep(seconds / n)


async def metrics(url: str) -> dict:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        text = await r.text()
    return {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for fam in text_string_to_metric_families(text)
        for x in fam.samples
    }


async def test_a_shift_in_completion_length_reaches_the_webhook_signed(
    fake_upstream, start_agent, receiver
):
    ra = await start_agent(fake_upstream.url, alerts=alerts_settings(receiver.url))
    await traffic(ra.url, tokens=5, n=60, seconds=5.0)  # the reference: short answers
    await traffic(ra.url, tokens=60, n=60, seconds=5.0)  # then long ones
    drift = None
    async with asyncio.timeout(45):
        while drift is None:
            await receiver.arrived.wait()
            receiver.arrived.clear()
            for p in receiver.payloads():
                for a in p["alerts"]:
                    if a["labels"].get("feature") == "completion_tokens":
                        drift = p
    assert drift["version"] == "4" and drift["status"] == "firing"
    assert drift["receiver"] == "hook" and drift["groupLabels"] == {"alertname": "InferwatchDrift"}
    alert = next(a for a in drift["alerts"] if a["labels"]["feature"] == "completion_tokens")
    assert alert["labels"]["segment"] == "all" and alert["status"] == "firing"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    body, header = receiver.posts[receiver.payloads().index(drift)]
    assert verify(header, body, SECRET)
    assert not verify(header, body.replace(b"firing", b"resolved", 1), SECRET)
    seen = await metrics(ra.url)
    assert (
        seen[("inferwatch_drift_detected", (("feature", "completion_tokens"), ("segment", "all")))]
        == 1
    )
    assert seen[("inferwatch_alerts_firing", (("alertname", "InferwatchDrift"),))] >= 1
    sent = seen[
        ("inferwatch_alert_notifications_total", (("receiver", "hook"), ("result", "sent")))
    ]
    assert sent >= 1
    assert (
        seen[("inferwatch_alert_evaluations_total", (("detector", "drift"), ("result", "ok")))] >= 1
    )
    await page_holds_to_the_catalogue(ra.url)


async def page_holds_to_the_catalogue(url: str) -> None:
    """Every alerts series on the page is declared, with its type and labels."""
    specs = load_catalogue()
    async with aiohttp.ClientSession() as s, s.get(f"{url}/metrics") as r:
        text = await r.text()
    alerts_names = {n for n, spec in specs.items() if spec.source == "alerts"}
    exposed = set()
    for fam in text_string_to_metric_families(text):
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        if name not in alerts_names:
            continue
        exposed.add(name)
        assert fam.type == specs[name].type, name
        assert {k for x in fam.samples for k in x.labels} <= set(specs[name].labels), name
    # Drift, the engine, the sender and the evaluations are all on (cost is off here).
    assert {n for n in alerts_names if "drift" in n or "alert" in n} <= exposed


async def test_a_silence_from_the_cli_keeps_the_alert_from_the_receiver(
    fake_upstream, start_agent, receiver, tmp_path
):
    store = tmp_path / "silenced"
    over = {"store": {"dir": str(store)}}
    ra = await start_agent(fake_upstream.url, alerts=alerts_settings(receiver.url), **over)
    cli = [sys.executable, "-m", "agent.cli", "alerts", "silence", "add"]
    done = subprocess.run(
        [*cli, 'alertname="InferwatchDrift"', "--duration", "1h", "--data-dir", str(store)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    await traffic(ra.url, tokens=5, n=60, seconds=5.0)
    await traffic(ra.url, tokens=60, n=60, seconds=5.0)
    # The engine sees the drift (the metric says so) but the receiver gets nothing.
    key = ("inferwatch_drift_detected", (("feature", "completion_tokens"), ("segment", "all")))
    async with asyncio.timeout(45):
        while (await metrics(ra.url)).get(key) != 1:
            await asyncio.sleep(0.5)
    await asyncio.sleep(3.0)  # past group_wait and a sender poll: it would have arrived
    assert receiver.posts == []
    bad = subprocess.run(
        [*cli, 'alertname=~"("', "--data-dir", str(store)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "bad regular expression" in bad.stderr
