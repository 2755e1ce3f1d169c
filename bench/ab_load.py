"""The load of the base/head comparison: closed-loop chat requests from one aiohttp client,
timed client-side (whole response and first chunk), with the agent's overhead header."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson

from bench.ab_stats import Sample

PATH = "/v1/chat/completions"
HEADERS = {"Content-Type": "application/json"}
OVERHEAD_HEADER = "x-inferwatch-overhead-ms"
_now = time.perf_counter_ns


def chat_body(model: str, stream: bool, max_tokens: int) -> bytes:
    """A small chat request. `ignore_eos` makes vLLM produce exactly `max_tokens` tokens
    (the instant upstream streams `max_tokens` chunks and ignores the rest)."""
    body: dict = {
        "model": model,
        "messages": [{"role": "user", "content": "Say something about latency and cost."}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return orjson.dumps(body)


def _overhead(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get(OVERHEAD_HEADER)
    return float(value) if value is not None else None


async def one(session: aiohttp.ClientSession, url: str, data: bytes) -> Sample:
    """One request read to its end; the first chunk is the first body bytes."""
    t0 = _now()
    async with session.post(url, data=data, headers=HEADERS) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        await resp.content.readany()
        ttfc = _now() - t0
        async for _ in resp.content.iter_any():
            pass
        return Sample(_now() - t0, ttfc, _overhead(resp))


async def run_mixed(
    session: aiohttp.ClientSession, urls: dict[str, str], data: bytes, n: int, concurrency: int
) -> dict[str, tuple[list[Sample], list[str]]]:
    """`n` requests to each of `urls` (name -> base URL) from `concurrency` closed-loop
    workers taking the targets in turn, so that all meet the upstream in the same moments.
    Per name: the samples of the requests that succeeded, and why each other one failed
    (counted and shown, not timed)."""
    turns = [name for _ in range(n) for name in urls][::-1]  # popped from the end: in order
    out: dict[str, tuple[list[Sample], list[str]]] = {name: ([], []) for name in urls}

    async def worker() -> None:
        while turns:
            name = turns.pop()
            try:
                out[name][0].append(await one(session, urls[name] + PATH, data))
            except (aiohttp.ClientError, RuntimeError, TimeoutError) as err:
                out[name][1].append(str(err) or type(err).__name__)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out
