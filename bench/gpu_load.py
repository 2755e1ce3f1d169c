"""The load of bench/gpu_check.sh: a closed loop of `--concurrency` clients for `--duration`
seconds through the agent, mixing streamed and whole answers, chat and completions, several
tenants (x-tenant-id) and answer lengths; every answer generates exactly its `max_tokens`
(`ignore_eos`). Writes a JSON summary (counts by kind, tenant and status).

    python -m bench.gpu_load --url AGENT --model NAME --out FILE [--duration 180] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path

import aiohttp
import orjson

TENANTS = ("acme", "globex", "initech", "umbrella")
LENGTHS = (16, 32, 64)
PROMPT = "the model server token request latency cost metric tenant prompt answer"


def request(i: int, model: str) -> tuple[str, dict, dict]:
    """The i-th request of the mix: (path, body, headers)."""
    stream, chat = i % 2 == 0, (i // 2) % 2 == 0
    body: dict = {"model": model, "max_tokens": LENGTHS[i % 3], "ignore_eos": True}
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    if chat:
        body["messages"] = [{"role": "user", "content": f"{PROMPT} {i}"}]
    else:
        body["prompt"] = f"{PROMPT} {i}"
    path = "/v1/chat/completions" if chat else "/v1/completions"
    return path, body, {"x-tenant-id": TENANTS[i % len(TENANTS)]}


async def one(session: aiohttp.ClientSession, url: str, i: int, model: str) -> str:
    """Send request i and read its whole answer; its outcome as a short word."""
    path, body, headers = request(i, model)
    try:
        async with session.post(url + path, json=body, headers=headers) as resp:
            await resp.read()
            return "ok" if resp.status == 200 else f"http_{resp.status}"
    except (TimeoutError, aiohttp.ClientError) as err:
        return type(err).__name__


async def run(url: str, model: str, duration: float, concurrency: int) -> dict:
    """Drive the load; the summary of what was sent and how it ended."""
    counter, outcomes, kinds = itertools.count(), Counter(), Counter()
    end = time.monotonic() + duration
    timeout = aiohttp.ClientTimeout(total=120)

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < end:
            i = next(counter)
            outcomes[await one(session, url, i, model)] += 1
            kinds[("stream" if i % 2 == 0 else "whole") + "/" + TENANTS[i % len(TENANTS)]] += 1

    start = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - start
    sent = sum(outcomes.values())
    return {
        "sent": sent,
        "elapsed_s": elapsed,
        "requests_per_s": sent / elapsed,
        "outcomes": dict(outcomes),
        "kinds": dict(kinds),
        "concurrency": concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load and write its summary."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", required=True, help="the agent's base URL")
    p.add_argument("--model", required=True, help="model name to send")
    p.add_argument("--out", required=True, type=Path, help="JSON summary to write")
    p.add_argument("--duration", type=float, default=180.0, help="seconds of load (default 180)")
    p.add_argument("--concurrency", type=int, default=8, help="clients at once (default 8)")
    args = p.parse_args(argv)
    summary = asyncio.run(run(args.url.rstrip("/"), args.model, args.duration, args.concurrency))
    args.out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(f"gpu_load: {summary['sent']} requests, {summary['outcomes']}")
    return 0 if summary["outcomes"].get("ok", 0) > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
