"""The vLLM /metrics collector, on a real vLLM 0.32 capture and on older vLLM names."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.catalogue import load_catalogue
from collectors.vllm import EXPORTS, HIT_RATIO, VLLMCollector, translate

pytestmark = pytest.mark.unit
CAPTURE = (Path(__file__).parent.parent / "fixtures" / "vllm-0.32-cpu-metrics.txt").read_text()
OLD = """\
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="old",engine="0"} 0.25
# TYPE vllm:time_per_output_token_seconds histogram
vllm:time_per_output_token_seconds_bucket{model_name="old",engine="0",le="0.1"} 3.0
vllm:time_per_output_token_seconds_bucket{model_name="old",engine="0",le="+Inf"} 4.0
vllm:time_per_output_token_seconds_sum{model_name="old",engine="0"} 0.9
vllm:time_per_output_token_seconds_count{model_name="old",engine="0"} 4.0
# TYPE vllm:gpu_prefix_cache_queries_total counter
vllm:gpu_prefix_cache_queries_total{model_name="old",engine="0"} 200.0
# TYPE vllm:gpu_prefix_cache_hits_total counter
vllm:gpu_prefix_cache_hits_total{model_name="old",engine="0"} 50.0
"""


def _exposed(families) -> str:
    class _C:
        def collect(self):
            return families

    reg = CollectorRegistry()
    reg.register(_C())
    return generate_latest(reg).decode()


def _value(text: str, sample: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == sample:
                return s.value
    raise KeyError(sample)


def test_real_capture_reexported_colon_free_with_joinable_labels():
    text = _exposed(translate(CAPTURE))
    assert ":" not in "".join(
        line.split("{")[0] for line in text.splitlines() if not line.startswith("#")
    )
    assert _value(text, "inferwatch_vllm_prompt_tokens_total") == 1160.0
    assert _value(text, "inferwatch_vllm_generation_tokens_total") == 2368.0
    assert _value(text, "inferwatch_vllm_time_to_first_token_seconds_count") == 37.0
    assert 'gen_ai_request_model="tiny-llama"' in text and "model_name" not in text
    assert _value(text, HIT_RATIO) == 0.0


def test_every_export_is_found_in_the_real_capture_and_declared_in_the_catalogue():
    names = {f.name + "_total" if f.type == "counter" else f.name for f in translate(CAPTURE)}
    catalogue = load_catalogue()
    for exp in EXPORTS:
        assert exp.name in names
    for fam in translate(CAPTURE):
        exposed = fam.name + "_total" if fam.type == "counter" else fam.name
        spec = catalogue[exposed]
        assert spec.source == "collectors.vllm" and spec.type == fam.type
        label_names = {k for s in fam.samples for k in s.labels if k != "le"}
        assert label_names == set(spec.labels), exposed


def test_old_vllm_names_are_accepted():
    text = _exposed(translate(OLD))
    assert _value(text, "inferwatch_vllm_kv_cache_usage_ratio") == 0.25
    assert _value(text, "inferwatch_vllm_inter_token_latency_seconds_count") == 4.0
    assert _value(text, HIT_RATIO) == 0.25


def test_missing_families_are_simply_absent():
    assert translate("# TYPE other gauge\nother 1\n") == []


def test_collect_raises_when_vllm_is_down():
    from serving.vllm_args import free_port

    with pytest.raises((urllib.error.URLError, OSError)):
        VLLMCollector(f"http://127.0.0.1:{free_port()}", timeout_s=1).collect()
