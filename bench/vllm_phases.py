"""Prefill vs decode time per token on a real vLLM (for the cost engine's split of a request).

Long-prompt/short-output requests isolate prefill; short-prompt/long-output requests isolate
decode. The figures come from vLLM's own `request_prefill_time_seconds` and
`request_decode_time_seconds` histograms against its prompt/generation token counters.
Requests are sent one at a time, so no batching mixes the phases.

    python -m bench.vllm_phases [--model DIR] [--name NAME] [--requests 6]
"""

from __future__ import annotations

import argparse
import json
import urllib.request

from collectors.vllm import VLLMCollector
from tests.vllm_server import VLLMServer, tiny_model


def totals(url: str) -> dict[str, float]:
    """vLLM's cumulative sums and counts, via the collector."""
    out: dict[str, float] = {}
    for fam in VLLMCollector(url, timeout_s=10).collect().families:
        for s in fam.samples:
            if s.name.endswith(("_total", "_sum", "_count")):
                out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def complete(url: str, model: str, prompt_ids: list[int], max_tokens: int) -> None:
    """One completion from token ids, running to max_tokens (EOS ignored)."""
    body = {"model": model, "prompt": prompt_ids, "max_tokens": max_tokens, "ignore_eos": True}
    req = urllib.request.Request(
        url + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=600).read()


def measure(url: str, model: str, prompt_len: int, out_len: int, n: int) -> dict[str, float]:
    """Deltas of vLLM's counters over `n` identical-shape requests."""
    before = totals(url)
    for i in range(n):
        # Distinct first token per request so the prefix cache cannot skip the prefill.
        complete(url, model, [10 + i] + [11 + (j % 50) for j in range(prompt_len - 1)], out_len)
    after = totals(url)
    return {k: after[k] - before.get(k, 0.0) for k in after}


def per_token(d: dict[str, float], n: int) -> tuple[float, float]:
    """(prefill seconds per prompt token, decode seconds per generated token after the first)."""
    p = "inferwatch_vllm_"
    prefill = d[p + "request_prefill_time_seconds_sum"] / d[p + "prompt_tokens_total"]
    decode = d[p + "request_decode_time_seconds_sum"] / (d[p + "generation_tokens_total"] - n)
    return prefill, decode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model directory (default: the tiny test model)")
    ap.add_argument("--name", default="tiny", help="served model name")
    ap.add_argument("--requests", type=int, default=6, help="requests per shape")
    ap.add_argument("--prompt-len", type=int, default=1024, help="tokens of the long prompt")
    ap.add_argument("--out-len", type=int, default=128, help="tokens of the long output")
    a = ap.parse_args()
    with VLLMServer(a.model or tiny_model(), a.name) as server:
        print(f"model {a.name}: vLLM ready in {server.start_s:.1f}s")
        complete(server.url, a.name, [5] * 16, 4)  # warm-up
        long_prompt = measure(server.url, a.name, a.prompt_len, 1, a.requests)
        long_output = measure(server.url, a.name, 8, a.out_len, a.requests)
    prefill, _ = per_token(long_prompt, a.requests)
    _, decode = per_token(long_output, a.requests)
    print(f"prefill: {prefill * 1e3:.4f} ms/prompt token  ({a.prompt_len}-token prompts, 1 output)")
    print(f"decode:  {decode * 1e3:.4f} ms/output token  (8-token prompts, {a.out_len} outputs)")
    print(f"ratio decode/prefill per token: {decode / prefill:.1f}x")


if __name__ == "__main__":
    main()
