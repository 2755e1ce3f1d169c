"""Shared fixtures: the fake OpenAI-compatible upstream and an in-process agent in front of it."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import pytest
from aiohttp import web

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from agent.record import RequestRecord
from tests.fake_upstream import FakeUpstream


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_app(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve an aiohttp app on a free loopback port; returns (runner, base url)."""
    # handler_cancellation: a stalled scripted handler ends when the agent hangs up, as
    # vLLM aborts a request whose client went away.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(runner)}"


@pytest.fixture
async def fake_upstream():
    """The scripted fake upstream (not vLLM), on a free port; `.url`, `.received`."""
    fake = FakeUpstream()
    runner, fake.url = await start_app(fake.app)
    yield fake
    await runner.cleanup()


@dataclass
class RunningAgent:
    """An agent served in-process, with a memory sink to read its records."""

    agent: Agent
    url: str
    sink: MemorySink
    runner: web.AppRunner

    async def records(self, n: int, timeout: float = 5.0) -> list[RequestRecord]:
        """Wait until at least `n` records reached the sinks; return them all."""
        async with asyncio.timeout(timeout):
            while len(self.sink.records) < n:
                self.sink.changed.clear()
                await self.sink.changed.wait()
        return list(self.sink.records)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """Current value of one sample of the agent's registry."""
        return self.agent.registry.get_sample_value(name, labels or {})


@pytest.fixture
async def start_agent(tmp_path):
    """Factory: `await start_agent(upstream_url, **settings_overrides)` -> RunningAgent.
    The agent's embedded store lives in the test's tmp dir unless `store` is overridden."""
    started: list[RunningAgent] = []

    async def _start(upstream_url: str, **overrides) -> RunningAgent:
        base = {
            "listen": {"port": 0},
            "store": {"dir": str(tmp_path / f"store{len(started)}")},
            # Quick collector ticks: the cost engine releases a record once a tick covers it.
            "collectors": {"interval_s": 0.2},
        }
        settings = load_settings(None, {**base, **overrides})
        sink = MemorySink()
        agent = Agent(settings, upstream_url, [sink])
        runner = await serve(agent, "127.0.0.1", 0)
        ra = RunningAgent(agent, f"http://127.0.0.1:{bound_port(runner)}", sink, runner)
        started.append(ra)
        return ra

    yield _start
    for ra in started:
        await ra.runner.cleanup()


@pytest.fixture
async def agent(fake_upstream, start_agent) -> RunningAgent:
    """An agent with default settings in front of the fake upstream."""
    return await start_agent(fake_upstream.url)


@pytest.fixture
async def vllm_like():
    """The vLLM-like test upstream of tests/vllm_like.py on a free port (`.url`, `.bodies`)."""
    from tests.vllm_like import VllmStandIn

    up = VllmStandIn()
    runner, up.url = await start_app(up.app)
    yield up
    await runner.cleanup()


@pytest.fixture
async def variant():
    """A second stand-in upstream for experiments (tests/experiment_upstreams.py), on a
    free port: answers say VARIANT; `.url`, `.seen`, `.bodies`."""
    from tests.experiment_upstreams import Variant

    v = Variant()
    runner, v.url = await start_app(v.app)
    yield v
    await runner.cleanup()
