"""The vLLM engine board: queue, running, KV-cache use, preemptions, prefix-cache hits,
and vLLM's own TTFT, inter-token, queue, prefill and decode times, as the agent re-exports
them from vLLM's /metrics (inferwatch_vllm_*, labelled with the model and the engine)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import HALF, THIRD, graph
from dashboards.grafana.promql import quantile, rate, ratio, series, sum_by

MODEL = "gen_ai_request_model"
BY = f"{{{{{MODEL}}}}}"
TIMES = (
    ("Time to first token (vLLM)", "inferwatch_vllm_time_to_first_token_seconds", "From the request entering vLLM to its first token, as vLLM measures it."),
    ("Inter-token latency (vLLM)", "inferwatch_vllm_inter_token_latency_seconds", "Time between successive output tokens inside vLLM."),
    ("Request latency (vLLM)", "inferwatch_vllm_e2e_request_latency_seconds", "End-to-end time of a request inside vLLM."),
    ("Queue time", "inferwatch_vllm_request_queue_time_seconds", "Time requests waited in vLLM's queue before they were scheduled."),
    ("Prefill time", "inferwatch_vllm_request_prefill_time_seconds", "Time vLLM spent on each request's prompt (prefill phase)."),
    ("Decode time", "inferwatch_vllm_request_decode_time_seconds", "Time vLLM spent generating each request's output (decode phase)."),
)  # fmt: skip


def _scheduler():
    return [
        graph(
            "Requests running and waiting",
            "Requests vLLM is running and those waiting in its queue, per model.",
            "short",
            [
                (sum_by(MODEL, series("inferwatch_vllm_requests_running")), f"running {BY}"),
                (sum_by(MODEL, series("inferwatch_vllm_requests_waiting")), f"waiting {BY}"),
            ],
        ),
        graph(
            "KV-cache use",
            "Share of vLLM's KV-cache blocks in use, per model and engine; near 1, requests queue or are preempted.",
            "percentunit",
            [(series("inferwatch_vllm_kv_cache_usage_ratio"), f"{BY} engine {{{{engine}}}}")],
            soft_max=1,
        ),
        graph(
            "Preemptions",
            "Requests vLLM preempted per second (their KV cache was evicted to make room).",
            "reqps",
            [(sum_by(MODEL, rate("inferwatch_vllm_preemptions_total")), BY)],
            span=THIRD,
        ),
        graph(
            "Prefix-cache hit ratio",
            "Share of prompt tokens vLLM found in its prefix cache over the interval, and since the engine started.",
            "percentunit",
            [
                (
                    ratio(
                        sum_by(MODEL, rate("inferwatch_vllm_prefix_cache_hits_total")),
                        sum_by(MODEL, rate("inferwatch_vllm_prefix_cache_queries_total")),
                    ),
                    BY,
                ),
                (series("inferwatch_vllm_prefix_cache_hit_ratio"), f"since start {BY}"),
            ],
            span=THIRD,
            soft_max=1,
        ),
        graph(
            "Finished requests",
            "Requests vLLM finished per second, by why they stopped (stop, length, abort).",
            "reqps",
            [
                (
                    sum_by(
                        f"{MODEL}, finished_reason", rate("inferwatch_vllm_request_success_total")
                    ),
                    f"{BY} {{{{finished_reason}}}}",
                )
            ],
            span=THIRD,
            stack=True,
        ),
        graph(
            "Engine tokens per second",
            "Prompt and generated tokens per second, as vLLM counts them.",
            "short",
            [
                (sum_by(MODEL, rate("inferwatch_vllm_prompt_tokens_total")), f"prompt {BY}"),
                (sum_by(MODEL, rate("inferwatch_vllm_generation_tokens_total")), f"generated {BY}"),
            ],
            span=HALF,
        ),
        graph(
            "Time to first token: agent and vLLM",
            "p95 time to first token as the client sees it through the agent, and inside vLLM; the gap is the agent, the network and the HTTP server. All tenants: neither histogram carries a tenant label.",
            "s",
            [
                (quantile(0.95, "gen_ai_server_time_to_first_token_seconds", MODEL), f"agent {BY}"),
                (
                    quantile(0.95, "inferwatch_vllm_time_to_first_token_seconds", MODEL),
                    f"vLLM {BY}",
                ),
            ],
            span=HALF,
        ),
    ]


def _times():
    return [
        graph(
            title,
            f"{text} Percentiles per model from vLLM's histogram.",
            "s",
            [(quantile(q, name, MODEL), f"p{round(q * 100)} {BY}") for q in (0.5, 0.95, 0.99)],
            span=THIRD,
        )
        for title, name, text in TIMES
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The vLLM engine board."""
    b = new_board(
        "engine",
        "vLLM engine",
        "Inside the served vLLM: scheduling, KV cache, prefix cache and its own latency phases.",
        ("model",),
    )
    for title, panels in (
        ("Scheduler and caches", _scheduler()),
        ("vLLM's latency phases", _times()),
    ):
        b = with_row(b, title, panels)
    return b
