"""The realistic traffic mix of the scale-out simulation, sent to every agent at a fixed
rate: several models and tenants (more tenants than the label cap, so `other` is used),
chat and completions, streamed and not, some upstream errors, and safety hits (an email
redacted, a key blocked). The upstream is the scripted fake (tests/fake_upstream.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass

import aiohttp

MODELS = ("llama-3.1-8b-instruct", "qwen2.5-7b-instruct", "mistral-7b-instruct", "phi-3-mini")
EMAIL = "mail the report to jane.doe@example.com please"
SECRET = "my key is sk-" + "a1B2" * 10


@dataclass(frozen=True)
class Mix:
    """Shares of the traffic; `tenants` distinct tenant names across the fleet."""

    tenants: int = 60
    stream_share: float = 0.5
    error_share: float = 0.03
    email_share: float = 0.05
    secret_share: float = 0.01
    completions_share: float = 0.2


def request(i: int, rng: random.Random, mix: Mix) -> tuple[str, dict, dict]:
    """(path, JSON body, headers) of request `i`. Tenants follow a Zipf-like skew: a few
    heavy ones, a long tail (which is what fills the label cap)."""
    tenant = f"tenant-{min(int(rng.paretovariate(1.0)) - 1, mix.tenants - 1):03d}"
    if rng.random() < 0.5:
        tenant = f"tenant-{rng.randrange(mix.tenants):03d}"
    model = MODELS[min(int(rng.expovariate(1.0)), len(MODELS) - 1)]
    roll = rng.random()
    text = EMAIL if roll < mix.email_share else f"question {i}: summarise item {i % 97}"
    if mix.email_share <= roll < mix.email_share + mix.secret_share:
        text = SECRET
    headers = {"x-tenant-id": tenant, "x-fake-tokens": str(rng.choice((8, 32, 128)))}
    if rng.random() < mix.error_share:
        headers["x-fake-status"] = rng.choice(("500", "503", "400"))
    if rng.random() < mix.completions_share:
        return "/v1/completions", {"model": model, "prompt": text, "max_tokens": 64}, headers
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if rng.random() < mix.stream_share:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return "/v1/chat/completions", body, headers


@dataclass
class Sent:
    """Requests sent and answers seen, by HTTP status class."""

    sent: int = 0
    ok: int = 0
    failed: int = 0


async def drive(urls: list[str], rate: float, seconds: float, mix: Mix, seed: int) -> Sent:
    """Send `rate` requests/s to each of `urls` for `seconds` (open loop, each request its
    own task, so a slow answer does not slow the rate); returns what was sent."""
    rng = random.Random(seed)
    sent = Sent()
    tasks: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()
    start = loop.time()
    total = int(rate * seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        for i, url in zip(range(total * len(urls)), itertools.cycle(urls), strict=False):
            due = start + (i // len(urls)) / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            path, body, headers = request(i, rng, mix)
            t = loop.create_task(_one(s, url + path, body, headers, sent))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return sent


async def sweep(urls: list[str], tenants: int, concurrency: int = 32) -> Sent:
    """Every (tenant, model, operation, outcome) combination once on each of `urls`: brings
    a new agent to the series it holds in steady state, when a day's traffic has touched
    every label combination its caps allow (`tenants` above the cap: the rest is `other`)."""
    sent, gate = Sent(), asyncio.Semaphore(concurrency)
    combos = itertools.product(urls, range(tenants), MODELS, ("chat", "text"), (False, True))

    async def one(s, url, tenant, model, op, error) -> None:
        headers = {"x-tenant-id": f"tenant-{tenant:03d}", "x-fake-tokens": "8"}
        if error:
            headers["x-fake-status"] = "500"
        path, body = "/v1/completions", {"model": model, "prompt": "warm up"}
        if op == "chat":
            path, body = (
                "/v1/chat/completions",
                {
                    "model": model,
                    "stream": tenant % 2 == 0,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
        async with gate:
            await _one(s, url + path, body, headers, sent)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        await asyncio.gather(*(one(s, *c) for c in combos))
    return sent


async def _one(s: aiohttp.ClientSession, url: str, body: dict, headers: dict, sent: Sent) -> None:
    sent.sent += 1
    try:
        async with s.post(url, json=body, headers=headers) as r:
            await r.read()
            if r.status < 400:
                sent.ok += 1
            else:
                sent.failed += 1
    except aiohttp.ClientError:
        sent.failed += 1
