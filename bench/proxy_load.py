"""The load generator: one aiohttp client, closed-loop workers, client-side timings.

Runs in the harness process, which is not any of the servers it measures.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import orjson

PATH = "/v1/chat/completions"
HEADERS = {"Content-Type": "application/json"}
_now = time.perf_counter_ns


def body(stream: bool, tokens: int) -> bytes:
    """A small chat request; `tokens` is how many chunks the instant upstream streams."""
    return orjson.dumps(
        {
            "model": "instant",
            "messages": [{"role": "user", "content": "Say something."}],
            "max_tokens": tokens,
            "stream": stream,
        }
    )


@dataclass
class Batch:
    """What one run of `n` requests gave: a latency per request (ns) and the wall time."""

    latencies_ns: list[int]
    elapsed_s: float
    failures: int = 0

    @property
    def rps(self) -> float:
        return len(self.latencies_ns) / self.elapsed_s


async def _one_json(session: aiohttp.ClientSession, url: str, data: bytes) -> int:
    t0 = _now()
    async with session.post(url, data=data, headers=HEADERS) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
    return _now() - t0


async def _one_stream(session: aiohttp.ClientSession, url: str, data: bytes) -> int:
    """Time to the first body bytes (the first event); then reads the stream to its end."""
    t0 = _now()
    async with session.post(url, data=data, headers=HEADERS) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        await resp.content.readany()
        ttfc = _now() - t0
        async for _ in resp.content.iter_any():
            pass
    return ttfc


async def run(
    session: aiohttp.ClientSession, base: str, n: int, concurrency: int, stream: bool, tokens: int
) -> Batch:
    """`n` requests from `concurrency` closed-loop workers; latency or time to first chunk."""
    url, data = base + PATH, body(stream, tokens)
    one = _one_stream if stream else _one_json
    left = [n]
    lat: list[int] = []
    fails = [0]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            try:
                lat.append(await one(session, url, data))
            except (aiohttp.ClientError, RuntimeError):
                fails[0] += 1

    t0 = _now()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Batch(lat, (_now() - t0) / 1e9, fails[0])


async def long_stream(session: aiohttp.ClientSession, base: str, chunks: int) -> float:
    """One stream of `chunks` events read to the end; returns events per second."""
    t0 = _now()
    events, last = 0, b""
    async with session.post(base + PATH, data=body(True, chunks), headers=HEADERS) as resp:
        async for piece in resp.content.iter_any():
            # A separator split across two reads is counted once, on the second.
            events += (last + piece[:1] == b"\n\n") + piece.count(b"\n\n")
            last = piece[-1:]
    elapsed = (_now() - t0) / 1e9
    if events < chunks:
        raise RuntimeError(f"stream ended after {events} of {chunks} events")
    return events / elapsed
