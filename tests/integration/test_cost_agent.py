"""The cost engine inside a real agent, in front of the test upstream (not vLLM).

Device intervals come from a stand-in ticker (a synthetic cpu-core busy all the time,
not a real collector), so every figure is known; the real-vLLM experiment with real
metering is in test_cost_vllm.py.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from collectors.base import DeviceInterval
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.integration


class StandInTicker:
    """Stand-in for the collector registry: a synthetic fully busy cpu-core each tick."""

    def __init__(self) -> None:
        self.subs = []
        self.last = time.monotonic_ns()

    def subscribe(self, callback) -> None:
        self.subs.append(callback)

    def tick(self) -> None:
        now = time.monotonic_ns()
        s = (now - self.last) / 1e9
        iv = DeviceInterval("cpu:standin", "cpu-core", self.last, now, s, s, None, 1.0)
        self.last = now
        for cb in self.subs:
            cb([iv])


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(runner)}"


@pytest.fixture
async def stack(tmp_path):
    up_runner, up_url = await _start(FakeUpstream().app)
    settings = load_settings(
        overrides={
            "cost": {"prices": {"cpu-core": {"per_hour": 36.0}}},
            "store": {"dir": str(tmp_path)},
        }
    )
    sink = MemorySink()
    # The cost stage is fed by the stand-in ticker instead of the real collectors.
    ticker = StandInTicker()
    agent = Agent(settings, up_url, [sink], meter=ticker)
    service = agent.cost
    runner = await serve(agent, "127.0.0.1", 0)
    yield agent, service, ticker, sink, f"http://127.0.0.1:{bound_port(runner)}", runner
    await up_runner.cleanup()


async def _chat(session, url, tenant, tokens):
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-tenant-id": tenant, "x-fake-tokens": str(tokens), "x-fake-chunk-delay": "0.004"}
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        await r.read()


async def _ticking(ticker: StandInTicker, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.03)
        ticker.tick()


async def test_restart_mid_load_loses_no_request_cost(stack):
    agent, service, ticker, sink, url, runner = stack
    stop = asyncio.Event()
    ticking = asyncio.create_task(_ticking(ticker, stop))
    sem = asyncio.Semaphore(8)

    async def one(i):
        async with sem:
            await _chat(session, url, "a" if i % 2 else "b", 5 + i % 20)
            if i == 30:
                service.request_restart()  # takes effect at the next tick, mid-load

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(i) for i in range(60)))
        async with session.get(url + "/v1/models") as r:
            assert r.status == 200
        metrics = await (await session.get(url + "/metrics")).text()
    stop.set()
    await ticking
    ticker.tick()
    await runner.cleanup()  # the cost engine's stop releases whatever it still holds

    chats = [r for r in sink.records if r.path == "/v1/chat/completions"]
    assert service.restarts == 1 and len(chats) == 60
    assert all(r.cost_currency == "USD" and r.cost_amount > 0 for r in chats)
    (models,) = [r for r in sink.records if r.path == "/v1/models"]
    assert models.cost_amount == 0.0  # never reached the model: no device share
    t = service.engine.totals
    billed = sum(r.cost_amount for r in sink.records) + t.idle
    assert t.late == 0.0
    assert billed == pytest.approx(t.metered, rel=1e-3)
    assert "inferwatch_cost_requests_total{" in metrics
    assert "inferwatch_cost_metered_total{" in metrics
