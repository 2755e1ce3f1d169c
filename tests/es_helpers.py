"""Shared pieces of the store / Elasticsearch integration tests."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from aiohttp import ClientSession, web
from elasticsearch import AsyncElasticsearch

from tests.fake_upstream import FakeUpstream

DATA_STREAM = "logs-inferwatch-default"
DONE_AT: dict[str, float] = {}  # request id -> monotonic time its answer was read
CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hello there"}]}


async def start_upstream() -> tuple[web.AppRunner, str]:
    """The test upstream (not vLLM) on a free port."""
    runner = web.AppRunner(FakeUpstream().app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def send_load(base: str, n: int, concurrency: int, on_done=None) -> list[str]:
    """POST `n` chat completions; returns the request ids of the answered ones, in the
    order answered (`DONE_AT` gets the time each answer was read)."""
    ids: list[str] = []
    todo = iter(range(n))

    async def worker(session: ClientSession) -> None:
        for _ in todo:
            try:
                async with session.post(f"{base}/v1/chat/completions", json=CHAT) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ids.append(resp.headers["x-request-id"])
                        DONE_AT[ids[-1]] = time.monotonic()
                        if on_done is not None:
                            await on_done(len(ids))
            except (OSError, aiohttp.ClientError):
                return  # the agent is gone (the SIGKILL test)

    async with ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ids


async def missing_ids(es: AsyncElasticsearch, ids: list[str]) -> list[str]:
    """The ids of `ids` with no document in the data stream."""
    missing = []
    for i in range(0, len(ids), 1000):
        resp = await es.mget(index=DATA_STREAM, ids=ids[i : i + 1000])
        missing += [d["_id"] for d in resp["docs"] if not d.get("found")]
    return missing


async def doc_count(es: AsyncElasticsearch) -> int:
    """Documents in the data stream (0 while it does not exist)."""
    if not await es.indices.exists(index=DATA_STREAM):
        return 0
    await es.indices.refresh(index=DATA_STREAM)
    return (await es.count(index=DATA_STREAM))["count"]


async def wait_for(predicate, timeout: float = 120.0, every: float = 0.25) -> None:
    """Poll an async predicate until true; fail only if it never becomes true."""
    for _ in range(int(timeout / every)):
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError("condition never became true")
