"""Metering the real way, end to end: the agent's own collectors (the host collector on this
machine) meter a real process tree, and the cost engine bills the requests from it.

The "vLLM" is a stand-in: a child process serving the test upstream's OpenAI API
(tests/fake_upstream.py) while a thread of it burns CPU, as vLLM's work would. In bundled
mode the supervisor starts it (`serving.bundled.attach`, as `inferwatch up` does) and hands
its pid to the meter; in `--upstream` mode nothing is found, and the records say so.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.pipeline import MemorySink
from agent.record import COST_FINAL, COST_UNMETERED
from serving import bundled
from serving.config import ServingConfig
from serving.vllm_args import Launch, free_port
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = textwrap.dedent(
    f"""
    import sys, threading, time
    sys.path.insert(0, {str(ROOT)!r})
    from aiohttp import web
    from tests.fake_upstream import FakeUpstream

    def burn():  # vLLM's work, in the served process itself (at most a minute)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            pass

    threading.Thread(target=burn, daemon=True).start()
    web.run_app(FakeUpstream().app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
    """
)


def _settings(tmp_path, **collectors):
    return load_settings(
        overrides={
            # Only the host collector: it meters the vLLM tree's CPU time.
            "collectors": {"interval_s": 0.25, "enabled": {"nvml": False, "vllm": False}}
            | collectors,
            "cost": {"prices": {"cpu-core": {"per_hour": 36.0}}, "release_spread_s": 0},
            "store": {"dir": str(tmp_path / "store")},
        }
    )


async def _chat(session, url: str) -> None:
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-fake-tokens": "10", "x-fake-chunk-delay": "0.03"}
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status == 200
        await r.read()


async def _released(sink: MemorySink, n: int) -> list:
    """The first `n` chat records the cost engine has released (it holds each until the
    collector tick covering it is metered)."""
    async with asyncio.timeout(60):
        while len(chats := [r for r in sink.records if r.path == "/v1/chat/completions"]) < n:
            sink.changed.clear()
            await sink.changed.wait()
    return chats


async def test_bundled_first_request_after_ready_and_after_a_restart_is_metered_stand_in_vllm(
    tmp_path,
):
    script = tmp_path / "stand_in_vllm.py"
    script.write_text(STAND_IN)
    port = free_port()
    launch = Launch((sys.executable, str(script), str(port)), {}, "fake-model",
                    f"http://127.0.0.1:{port}")  # fmt: skip
    sink = MemorySink()
    agent = Agent(_settings(tmp_path), launch.url, [sink])
    cfg = ServingConfig(restart_backoff_s=0.1, restart_backoff_max_s=0.2, stop_grace_s=5)
    sup = bundled.attach(agent, cfg, launch, progress=False)
    runner = await serve(agent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        async with aiohttp.ClientSession() as session:
            await asyncio.wait_for(sup.ready_event.wait(), 60)
            await _chat(session, url)  # the very first request, right after ready
            (first,) = await _released(sink, 1)
            sup.process.kill()  # a crash: the supervisor starts a new vLLM, a new pid
            async with asyncio.timeout(60):
                while sup.restart_count < 1 or not sup.ready_event.is_set():
                    await asyncio.sleep(0.05)
            await _chat(session, url)
            _, second = await _released(sink, 2)
    finally:
        await runner.cleanup()
    for r in (first, second):
        assert r.status == "ok"
        assert r.cost_status == COST_FINAL
        assert r.cost_amount > 0 and r.cost_device_seconds > 0


async def test_upstream_not_found_records_say_unmetered_not_zero_stand_in_upstream(tmp_path):
    up = web.AppRunner(FakeUpstream().app)
    await up.setup()
    await web.TCPSite(up, "127.0.0.1", 0).start()
    sink = MemorySink()
    # Nothing listens on the port vLLM is looked for on: its processes are never found.
    settings = _settings(tmp_path, vllm_port=free_port())
    agent = Agent(settings, f"http://127.0.0.1:{bound_port(up)}", [sink])
    runner = await serve(agent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{bound_port(runner)}"
    try:
        async with aiohttp.ClientSession() as session:
            await _chat(session, url)
            (r,) = await _released(sink, 1)
            metrics = await (await session.get(url + "/metrics")).text()
    finally:
        await runner.cleanup()
        await up.cleanup()
    assert r.status == "ok"
    assert r.cost_status == COST_UNMETERED and r.cost_amount == 0.0
    assert 'inferwatch_cost_records_unmetered_total{gen_ai_request_model="fake-model"} 1.0' in (
        metrics
    )
