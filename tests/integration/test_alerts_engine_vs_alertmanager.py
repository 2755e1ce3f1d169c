"""The engine against the real Alertmanager (Debian's prometheus-alertmanager): the same
alerts, the same grouping, inhibit rule and silence, posted to Alertmanager's API v2 and
reported to the engine; the notifications each group gets must be the same, in order.
Alertmanager runs with real timers (group_wait 1 s, group_interval 2 s), the engine with
a fake clock on the same schedule, so timing is compared only as order."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web

from alerts import db
from alerts.engine.config import RouteConfig, default_inhibit_rules
from alerts.engine.engine import AlertEngine
from alerts.engine.state import EngineState
from alerts.model import Alert
from tests.conftest import free_port, start_app

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

GW, GI = 1, 2
CONFIG = f"""
route: {{receiver: hook, group_by: [alertname], group_wait: {GW}s, group_interval: {GI}s,
         repeat_interval: 1h}}
receivers:
  - name: hook
    webhook_configs: [{{url: "URL", send_resolved: true}}]
inhibit_rules:
  - source_matchers: ['alertname="InferwatchBudgetExhausted"']
    target_matchers: ['alertname="InferwatchCostAnomaly"']
    equal: [tenant]
"""


def lbl(name, **labels):
    return {"alertname": name, **labels}


X1, X2 = lbl("X", i="1"), lbl("X", i="2")
BUDGET_A = lbl("InferwatchBudgetExhausted", tenant="a")
COST_A, COST_B = lbl("InferwatchCostAnomaly", tenant="a"), lbl("InferwatchCostAnomaly", tenant="b")
SILENCED = lbl("Silenced", tenant="a")
ODD = lbl('Odd "quoted" \u00e9\u00a0\u00ad\ttab')  # Go's %q in the group key
# Each step: the alerts active, and how many notifications it brings.
STEPS = [
    ([X1, X2, BUDGET_A, COST_A, COST_B, SILENCED, ODD], 4),  # Cost a inhibited, Silenced silenced
    ([X1, COST_A, COST_B, SILENCED, ODD], 3),  # X2 and the budget resolve: Cost a is news
    ([], 3),  # all resolve; Silenced was never told, so its end is not either
]


def shape(group_key, status, alerts):
    return group_key, status, sorted((tuple(sorted(a[0].items())), a[1]) for a in alerts)


def engine_run(tmp_path):
    sent = []
    route = RouteConfig(
        receivers=["hook"],
        group_by=["alertname"],
        group_wait_s=GW,
        group_interval_s=GI,
        repeat_interval_s=3600,
    )
    state = EngineState(db.connect(tmp_path / "alerts.db"))
    state.silences.add(['alertname="Silenced"'], 0, 10_000)
    engine = AlertEngine(route, default_inhibit_rules(), state, sent.append)
    for step, (active, _) in enumerate(STEPS):
        # Report between two flushes (the groups flush at GW, GW + GI, GW + 2 GI, ...),
        # as the test posts to Alertmanager after the notifications of the last flush.
        engine.process(step * GI, "test", [Alert(labels) for labels in active])
        engine.tick(step * GI + GW)
    return [
        shape(n.group_key, n.status, [(a.labels, a.status(n.created_at)) for a in n.alerts])
        for n in sent
    ]


async def alertmanager_run(tmp_path):
    got: asyncio.Queue = asyncio.Queue()

    async def receive(request):
        body = await request.json()
        await got.put(
            shape(
                body["groupKey"],
                body["status"],
                [(a["labels"], a["status"]) for a in body["alerts"]],
            )
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/", receive)
    runner, url = await start_app(app)
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "install the Debian package prometheus-alertmanager"
    (tmp_path / "am.yml").write_text(CONFIG.replace("URL", url + "/"))
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{port}/api/v2"
    received = []
    try:
        async with aiohttp.ClientSession() as s:
            await wait_ready(s, api)
            await silence(s, api)
            for active, expected in post_steps():
                await post(s, api, active)
                async with asyncio.timeout(30):
                    for _ in range(expected):
                        received.append(await got.get())
            # Room for a notification that should not come (the silenced group's).
            await asyncio.sleep(2 * GI)
            while not got.empty():
                received.append(got.get_nowait())
    finally:
        proc.terminate()
        proc.wait(10)
        await runner.cleanup()
    return received


def post_steps():
    previous: list[dict] = []
    for active, expected in STEPS:
        gone = [labels for labels in previous if labels not in active]
        yield [(labels, None) for labels in active] + [(labels, "end") for labels in gone], expected
        previous = active


async def post(session, api, alerts):
    now = datetime.now(UTC)
    body = [
        {"labels": labels, **({"endsAt": now.isoformat()} if end else {})} for labels, end in alerts
    ]
    async with session.post(f"{api}/alerts", json=body) as r:
        assert r.status == 200, await r.text()


async def silence(session, api):
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "test",
        "comment": "differential",
    }
    async with session.post(f"{api}/silences", json=body) as r:
        assert r.status == 200, await r.text()


async def wait_ready(session, api):
    async with asyncio.timeout(20):
        while True:
            try:
                async with session.get(f"{api}/status") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def by_group(notes):
    out: dict[str, list] = {}
    for key, status, alerts in notes:
        out.setdefault(key, []).append((status, alerts))
    return out


async def test_engine_notifies_as_the_real_alertmanager(tmp_path):
    ours = by_group(engine_run(tmp_path / "engine"))
    theirs = by_group(await alertmanager_run(tmp_path))
    assert ours == theirs
    assert set(theirs) == {
        '{}:{alertname="X"}',
        '{}:{alertname="InferwatchBudgetExhausted"}',
        '{}:{alertname="InferwatchCostAnomaly"}',
        '{}:{alertname="Odd \\"quoted\\" \u00e9\\u00a0\\u00ad\\ttab"}',
    }
