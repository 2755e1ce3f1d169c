"""The Serving board: traffic, errors, latency, TTFT and time per output token against
the SLO choices, tokens, the same per tenant, in-flight requests and the agent's own
overhead.

The latency and token histograms carry no tenant (docs/design/series-budget.md): their
panels show every tenant and say so; traffic, errors and tokens come from the per-tenant
counters, so they follow the tenant filter."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana import slo
from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import HALF, QUARTER, THIRD, distribution, graph, single
from dashboards.grafana.promql import RATE, quantile, rate, ratio, series, sum_by

REQUESTS = "gen_ai_server_request_duration_seconds"
TTFT = "gen_ai_server_time_to_first_token_seconds"
TPOT = "gen_ai_server_time_per_output_token_seconds"
TOKENS = "gen_ai_client_token_usage"
COUNT = "inferwatch_requests_total"  # by model, tenant and status
TOKENS_TOTAL = "inferwatch_tokens_total"  # by model, tenant and token type
TENANT_DURATION = "inferwatch_tenant_request_duration_seconds"
TENANT_TTFT = "inferwatch_tenant_time_to_first_token_seconds"
MODEL = "gen_ai_request_model"
ALL = " All tenants: this histogram carries no tenant label."


def _quantiles(histogram: str) -> list[tuple[str, str]]:
    return [
        (quantile(q, histogram, MODEL), f"p{round(q * 100)} {{{{{MODEL}}}}}")
        for q in (0.5, 0.95, 0.99)
    ]


def _headline():
    reqs = sum_by("", rate(COUNT))
    errors = sum_by("", rate(COUNT, 'status="error"'))
    return [
        single(
            "Requests per second",
            "Requests answered through the agent per second, all models and tenants selected.",
            "reqps",
            reqs,
        ),
        single(
            "Error ratio",
            "Share of requests that ended in an error (status error; a client that cancelled is not counted as one).",
            "percentunit",
            ratio(errors, reqs),
        ),
        single(
            "p95 latency",
            "95th percentile of the end-to-end duration of requests through the agent." + ALL,
            "s",
            quantile(0.95, REQUESTS),
        ),
        single(
            "Within latency SLO",
            "Share of requests that ended within the latency SLO chosen above ($slo_latency s)."
            + ALL,
            "percentunit",
            slo.within(REQUESTS, "slo_latency"),
        ),
    ]


def _traffic():
    errors = rate("inferwatch_upstream_errors_total")
    return [
        graph(
            "Requests by model and status",
            "Requests per second through the agent, by model and by how they ended (ok, error, cancelled).",
            "reqps",
            [
                (
                    sum_by(f"{MODEL}, status", rate(COUNT)),
                    f"{{{{{MODEL}}}}} {{{{status}}}}",
                )
            ],
            stack=True,
        ),
        graph(
            "Errors by type",
            "Failed requests per second by error type: an upstream HTTP status (500, 503, ...) or upstream_unavailable, upstream_timeout, bad_request, cancelled.",
            "reqps",
            [(sum_by(f"{MODEL}, error_type", errors), f"{{{{{MODEL}}}}} {{{{error_type}}}}")],
            stack=True,
        ),
    ]


def _latency():
    return [
        graph(
            "Request duration",
            "End-to-end duration of requests through the agent: percentiles per model from the histogram."
            + ALL,
            "s",
            _quantiles(REQUESTS),
        ),
        graph(
            "Share within the latency SLO",
            "Share of requests per model that ended within $slo_latency s (a bucket bound, so exact)."
            + ALL,
            "percentunit",
            [(slo.within(REQUESTS, "slo_latency", MODEL), f"{{{{{MODEL}}}}}")],
            soft_max=1,
        ),
        graph(
            "Time to first token",
            "Time from request received to the first content chunk of streamed requests (for non-streamed requests, the whole response)."
            + ALL,
            "s",
            _quantiles(TTFT),
        ),
        graph(
            "Share within the TTFT SLO",
            "Share of requests per model whose first token came within $slo_ttft s." + ALL,
            "percentunit",
            [(slo.within(TTFT, "slo_ttft", MODEL), f"{{{{{MODEL}}}}}")],
            soft_max=1,
        ),
        graph(
            "Time per output token",
            "Mean time per output token after the first, per streamed request (decode speed as the client saw it)."
            + ALL,
            "s",
            _quantiles(TPOT),
        ),
        graph(
            "Share within the TPOT SLO",
            "Share of streamed requests per model whose time per output token was within $slo_tpot s."
            + ALL,
            "percentunit",
            [(slo.within(TPOT, "slo_tpot", MODEL), f"{{{{{MODEL}}}}}")],
            soft_max=1,
        ),
        distribution(
            "Request duration distribution",
            "How many requests ended in each duration bucket per step (a heatmap of the histogram)."
            + ALL,
            "s",
            sum_by("le", f"increase({series(REQUESTS + '_bucket')}[{RATE}])"),
            span=24,
        ),
    ]


def _tokens():
    tokens = rate(TOKENS_TOTAL)
    per_request = ratio(
        sum_by(f"{MODEL}, gen_ai_token_type", rate(TOKENS + "_sum")),
        sum_by(f"{MODEL}, gen_ai_token_type", rate(TOKENS + "_count")),
    )
    return [
        graph(
            "Tokens per second",
            "Input and output tokens per second by model, from the upstream's usage reports.",
            "short",
            [
                (
                    sum_by(f"{MODEL}, gen_ai_token_type", tokens),
                    f"{{{{{MODEL}}}}} {{{{gen_ai_token_type}}}}",
                )
            ],
        ),
        graph(
            "Tokens per request",
            "Mean input and output tokens per request by model." + ALL,
            "short",
            [(per_request, f"{{{{{MODEL}}}}} {{{{gen_ai_token_type}}}}")],
        ),
    ]


def _tenants():
    by_tenant = "tenant"
    return [
        graph(
            "Requests by tenant and status",
            "Requests per second by tenant and by how they ended (ok, error, cancelled).",
            "reqps",
            [(sum_by("tenant, status", rate(COUNT)), "{{tenant}} {{status}}")],
            stack=True,
        ),
        graph(
            "Tokens per second by tenant",
            "Input and output tokens per second by tenant, from the upstream's usage reports.",
            "short",
            [
                (
                    sum_by("tenant, gen_ai_token_type", rate(TOKENS_TOTAL)),
                    "{{tenant}} {{gen_ai_token_type}}",
                )
            ],
        ),
        graph(
            "Share within the latency SLO by tenant",
            "Share of each tenant's requests (every model) that ended within $slo_latency s.",
            "percentunit",
            [(slo.within(TENANT_DURATION, "slo_latency", by_tenant), "{{tenant}}")],
            span=THIRD,
            soft_max=1,
        ),
        graph(
            "Share within the TTFT SLO by tenant",
            "Share of each tenant's requests (every model) whose first token came within $slo_ttft s.",
            "percentunit",
            [(slo.within(TENANT_TTFT, "slo_ttft", by_tenant), "{{tenant}}")],
            span=THIRD,
            soft_max=1,
        ),
        graph(
            "Mean duration by tenant",
            "Mean end-to-end duration of each tenant's requests (every model). Percentiles per tenant and model: the dashboard's Requests page.",
            "s",
            [
                (
                    ratio(
                        sum_by(by_tenant, rate(TENANT_DURATION + "_sum")),
                        sum_by(by_tenant, rate(TENANT_DURATION + "_count")),
                    ),
                    "{{tenant}}",
                )
            ],
            span=THIRD,
        ),
    ]


def _agent():
    return [
        graph(
            "In flight",
            "Requests being served through the agent right now, by operation.",
            "short",
            [
                (
                    sum_by("gen_ai_operation_name", series("inferwatch_requests_in_flight")),
                    "{{gen_ai_operation_name}}",
                )
            ],
            span=THIRD,
        ),
        graph(
            "Agent overhead",
            "Time the agent itself added to a request (its own processing, not the upstream's).",
            "s",
            [
                (quantile(q, "inferwatch_agent_overhead_seconds"), f"p{round(q * 100)}")
                for q in (0.5, 0.99)
            ],
            span=THIRD,
        ),
        graph(
            "Rejected by the agent",
            "Connections and requests the agent refused per second (limits, oversized bodies, timeouts), by reason.",
            "reqps",
            [
                (
                    sum_by("listener, reason", rate("inferwatch_requests_rejected_total")),
                    "requests {{reason}}",
                ),
                (
                    sum_by("listener, reason", rate("inferwatch_connections_rejected_total")),
                    "connections {{reason}}",
                ),
            ],
            span=THIRD,
        ),
        single(
            "Upstream up",
            "Yes when the last probe of the upstream (vLLM) succeeded on every selected agent; no when any failed.",
            "bool_yes_no",
            f"min({series('inferwatch_upstream_up')})",
            span=QUARTER,
        ),
        graph(
            "Open connections",
            "Client connections open on each of the agent's listeners.",
            "short",
            [(sum_by("listener", series("inferwatch_connections_open")), "{{listener}}")],
            span=9,
        ),
        graph(
            "Request bodies in flight",
            "Bytes of request bodies the agent holds right now (bounded by its limits).",
            "bytes",
            [(sum_by("", series("inferwatch_request_body_bytes_in_flight")), "bytes")],
            span=9,
        ),
    ]


def _drift():
    score, threshold = series("inferwatch_drift_score"), series("inferwatch_drift_threshold")
    return [
        graph(
            "Drift score over threshold",
            "Each drift test's score divided by its threshold, per feature and segment (over 1: that test flags drift). From the alerts evaluator.",
            "short",
            [(f"{score} / {threshold}", "{{feature}} {{segment}} {{test}}")],
            span=HALF,
        ),
        graph(
            "Features drifting",
            "Features whose traffic drifted from the reference window, per segment (1: drift detected).",
            "short",
            [(f"{series('inferwatch_drift_detected')} > 0", "{{feature}} {{segment}}")],
            span=HALF,
            stack=True,
        ),
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The Serving board."""
    b = new_board(
        "serving",
        "Serving",
        "Traffic, errors and latency of requests through the inferwatch agent, against SLO choices.",
        ("model", "tenant"),
    )
    for v in slo.variables():
        b = b.with_variable(v)
    for title, panels in (
        ("Overview", _headline()),
        ("Traffic and errors", _traffic()),
        ("Latency against the SLO", _latency()),
        ("Tokens", _tokens()),
        ("By tenant", _tenants()),
        ("Drift", _drift()),
        ("Agent", _agent()),
    ):
        b = with_row(b, title, panels)
    return b
