"""vLLM collector: scrape the upstream's `/metrics` and re-export what an operator needs.

vLLM names its series `vllm:...`; promtool rejects colons outside recording rules, so each
family is re-exported under a colon-free `inferwatch_vllm_*` name. vLLM's `model_name`
label becomes `gen_ai_request_model` (the served name clients send), so these series join
with the agent's own request metrics. Old and new vLLM names are both accepted.
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import Snapshot

_BASE = ("gen_ai_request_model", "engine")


@dataclass(frozen=True, slots=True)
class Export:
    """One re-exported family: our name, its type, vLLM's names (newest first), help."""

    name: str
    type: str
    sources: tuple[str, ...]
    help: str
    extra_labels: tuple[str, ...] = ()


_S = "vllm:"
EXPORTS: tuple[Export, ...] = (
    Export("inferwatch_vllm_requests_running", "gauge", (_S + "num_requests_running",), "Requests vLLM is running now (in its batch)."),
    Export("inferwatch_vllm_requests_waiting", "gauge", (_S + "num_requests_waiting",), "Requests queued in vLLM, waiting for the batch."),
    Export("inferwatch_vllm_kv_cache_usage_ratio", "gauge", (_S + "kv_cache_usage_perc", _S + "gpu_cache_usage_perc", _S + "cpu_cache_usage_perc"), "Fraction of vLLM's KV-cache blocks in use (1 = full)."),
    Export("inferwatch_vllm_preemptions", "counter", (_S + "num_preemptions",), "Requests vLLM preempted (evicted from the KV cache, to be recomputed)."),
    Export("inferwatch_vllm_prefix_cache_queries", "counter", (_S + "prefix_cache_queries", _S + "gpu_prefix_cache_queries"), "Prompt tokens vLLM looked up in its prefix cache."),
    Export("inferwatch_vllm_prefix_cache_hits", "counter", (_S + "prefix_cache_hits", _S + "gpu_prefix_cache_hits"), "Prompt tokens found in vLLM's prefix cache."),
    Export("inferwatch_vllm_prompt_tokens", "counter", (_S + "prompt_tokens",), "Prompt tokens vLLM processed."),
    Export("inferwatch_vllm_generation_tokens", "counter", (_S + "generation_tokens",), "Tokens vLLM generated."),
    Export("inferwatch_vllm_request_success", "counter", (_S + "request_success",), "Requests vLLM finished, by finish reason.", ("finished_reason",)),
    Export("inferwatch_vllm_time_to_first_token_seconds", "histogram", (_S + "time_to_first_token_seconds",), "vLLM's own time to first token (inside the server)."),
    Export("inferwatch_vllm_inter_token_latency_seconds", "histogram", (_S + "inter_token_latency_seconds", _S + "time_per_output_token_seconds"), "vLLM's time between two output tokens."),
    Export("inferwatch_vllm_e2e_request_latency_seconds", "histogram", (_S + "e2e_request_latency_seconds",), "vLLM's end-to-end request latency."),
    Export("inferwatch_vllm_request_queue_time_seconds", "histogram", (_S + "request_queue_time_seconds",), "Time requests waited in vLLM's queue."),
    Export("inferwatch_vllm_request_prefill_time_seconds", "histogram", (_S + "request_prefill_time_seconds",), "Time vLLM spent on each request's prefill."),
    Export("inferwatch_vllm_request_decode_time_seconds", "histogram", (_S + "request_decode_time_seconds",), "Time vLLM spent on each request's decode."),
)  # fmt: skip
HIT_RATIO = "inferwatch_vllm_prefix_cache_hit_ratio"


def _key(labels: dict[str, str], extra: tuple[str, ...]) -> tuple[str, ...]:
    base = (labels.get("model_name", ""), labels.get("engine", ""))
    return base + tuple(labels.get(name, "") for name in extra)


def _simple(exp: Export, fam: Metric) -> Metric:
    cls = CounterMetricFamily if exp.type == "counter" else GaugeMetricFamily
    out = cls(exp.name, exp.help, labels=_BASE + exp.extra_labels)
    want = fam.name + "_total" if exp.type == "counter" else fam.name
    for s in fam.samples:
        if s.name == want:
            out.add_metric(_key(s.labels, exp.extra_labels), s.value)
    return out


def _histogram(exp: Export, fam: Metric) -> Metric:
    buckets: dict[tuple, list] = defaultdict(list)
    sums: dict[tuple, float] = {}
    for s in fam.samples:
        key = _key(s.labels, ())
        if s.name.endswith("_bucket"):
            buckets[key].append((s.labels["le"], s.value))
        elif s.name.endswith("_sum"):
            sums[key] = s.value
    out = HistogramMetricFamily(exp.name, exp.help, labels=_BASE)
    for key, bs in buckets.items():
        bs.sort(key=lambda b: float(b[0]))
        out.add_metric(key, bs, sums.get(key, 0.0))
    return out


def _hit_ratio(by_name: dict[str, Metric]) -> Metric:
    out = GaugeMetricFamily(
        HIT_RATIO, "Prefix-cache hits / queries since vLLM started.", labels=_BASE
    )
    hits = {r.labels: r.value for r in _samples(by_name.get("inferwatch_vllm_prefix_cache_hits"))}
    for r in _samples(by_name.get("inferwatch_vllm_prefix_cache_queries")):
        if r.value > 0:
            out.add_metric(r.labels, hits.get(r.labels, 0.0) / r.value)
    return out


@dataclass(frozen=True, slots=True)
class _Row:
    labels: tuple[str, ...]
    value: float


def _samples(fam: Metric | None) -> list[_Row]:
    if fam is None:
        return []
    return [
        _Row(tuple(s.labels[n] for n in _BASE), s.value)
        for s in fam.samples
        if s.name.endswith("_total")
    ]


def translate(text: str) -> list[Metric]:
    """vLLM's exposition text -> our colon-free families (pure; unit-tested on real captures)."""
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    out: dict[str, Metric] = {}
    for exp in EXPORTS:
        fam = next((parsed[n] for n in exp.sources if n in parsed), None)
        if fam is None:
            continue
        out[exp.name] = _histogram(exp, fam) if exp.type == "histogram" else _simple(exp, fam)
    if "inferwatch_vllm_prefix_cache_queries" in out:
        out[HIT_RATIO] = _hit_ratio(out)
    return list(out.values())


class VLLMCollector:
    """`Collector` for a vLLM server: `collect()` scrapes `<url>/metrics`, raising on failure."""

    name = "vllm"

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/") + "/metrics"
        self.timeout_s = timeout_s

    def collect(self) -> Snapshot:
        """One scrape. Raises (URLError, OSError, ValueError) when vLLM cannot be read."""
        with urllib.request.urlopen(self.url, timeout=self.timeout_s) as resp:
            text = resp.read().decode("utf-8")
        return Snapshot(self.name, time.monotonic_ns(), tuple(translate(text)))
