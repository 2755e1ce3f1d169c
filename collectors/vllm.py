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

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import MetricSpec, spec
from collectors.base import Snapshot
from collectors.factory import CollectorContext, register_collector


@dataclass(frozen=True, slots=True)
class Export:
    """One re-exported family: its catalogue name (which gives its type, labels and help)
    and vLLM's names for it, newest first."""

    name: str
    sources: tuple[str, ...]

    @property
    def spec(self) -> MetricSpec:
        """The catalogue's declaration of this family."""
        return spec(self.name)


_S = "vllm:"
EXPORTS: tuple[Export, ...] = (
    Export("inferwatch_vllm_requests_running", (_S + "num_requests_running",)),
    Export("inferwatch_vllm_requests_waiting", (_S + "num_requests_waiting",)),
    Export("inferwatch_vllm_kv_cache_usage_ratio", (_S + "kv_cache_usage_perc", _S + "gpu_cache_usage_perc", _S + "cpu_cache_usage_perc")),
    Export("inferwatch_vllm_preemptions_total", (_S + "num_preemptions",)),
    Export("inferwatch_vllm_prefix_cache_queries_total", (_S + "prefix_cache_queries", _S + "gpu_prefix_cache_queries")),
    Export("inferwatch_vllm_prefix_cache_hits_total", (_S + "prefix_cache_hits", _S + "gpu_prefix_cache_hits")),
    Export("inferwatch_vllm_prompt_tokens_total", (_S + "prompt_tokens",)),
    Export("inferwatch_vllm_generation_tokens_total", (_S + "generation_tokens",)),
    Export("inferwatch_vllm_request_success_total", (_S + "request_success",)),
    Export("inferwatch_vllm_time_to_first_token_seconds", (_S + "time_to_first_token_seconds",)),
    Export("inferwatch_vllm_inter_token_latency_seconds", (_S + "inter_token_latency_seconds", _S + "time_per_output_token_seconds")),
    Export("inferwatch_vllm_e2e_request_latency_seconds", (_S + "e2e_request_latency_seconds",)),
    Export("inferwatch_vllm_request_queue_time_seconds", (_S + "request_queue_time_seconds",)),
    Export("inferwatch_vllm_request_prefill_time_seconds", (_S + "request_prefill_time_seconds",)),
    Export("inferwatch_vllm_request_decode_time_seconds", (_S + "request_decode_time_seconds",)),
)  # fmt: skip
HIT_RATIO = "inferwatch_vllm_prefix_cache_hit_ratio"


def _vllm_labels(sp: MetricSpec) -> tuple[str, ...]:
    """vLLM's label names for the family's: its first, `gen_ai_request_model`, is vLLM's
    `model_name`; the others keep their names."""
    return ("model_name", *sp.labels[1:])


def _key(labels: dict[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in names)


def _simple(sp: MetricSpec, fam: Metric) -> Metric:
    out, names = sp.family(), _vllm_labels(sp)
    want = fam.name + "_total" if sp.type == "counter" else fam.name
    for s in fam.samples:
        if s.name == want:
            out.add_metric(_key(s.labels, names), s.value)
    return out


def _histogram(sp: MetricSpec, fam: Metric) -> Metric:
    buckets: dict[tuple, list] = defaultdict(list)
    sums: dict[tuple, float] = {}
    names = _vllm_labels(sp)
    for s in fam.samples:
        key = _key(s.labels, names)
        if s.name.endswith("_bucket"):
            buckets[key].append((s.labels["le"], s.value))
        elif s.name.endswith("_sum"):
            sums[key] = s.value
    out = sp.family()
    for key, bs in buckets.items():
        bs.sort(key=lambda b: float(b[0]))
        out.add_metric(key, bs, sums.get(key, 0.0))
    return out


def _hit_ratio(by_name: dict[str, Metric]) -> Metric:
    out = spec(HIT_RATIO).family()
    hits = dict(_samples(by_name.get("inferwatch_vllm_prefix_cache_hits_total")))
    for labels, value in _samples(by_name.get("inferwatch_vllm_prefix_cache_queries_total")):
        if value > 0:
            out.add_metric(labels, hits.get(labels, 0.0) / value)
    return out


def _samples(fam: Metric | None) -> list[tuple[tuple[str, ...], float]]:
    """(label values, value) of a counter family's `_total` samples."""
    if fam is None:
        return []
    return [(tuple(s.labels.values()), s.value) for s in fam.samples if s.name.endswith("_total")]


def translate(text: str) -> list[Metric]:
    """vLLM's exposition text -> our colon-free families (pure; unit-tested on real captures)."""
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    out: dict[str, Metric] = {}
    for exp in EXPORTS:
        fam = next((parsed[n] for n in exp.sources if n in parsed), None)
        if fam is None:
            continue
        sp = exp.spec
        out[exp.name] = _histogram(sp, fam) if sp.type == "histogram" else _simple(sp, fam)
    if "inferwatch_vllm_prefix_cache_queries_total" in out:
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


@register_collector("vllm", True, "scrape of the vLLM server's own /metrics")
def _build(ctx: CollectorContext) -> VLLMCollector | None:
    """None without an upstream URL: there is no vLLM page to read."""
    if not ctx.upstream_url:
        return None
    return VLLMCollector(ctx.upstream_url, timeout_s=ctx.config.timeout_for("vllm"))
