"""The Cost board: spend by model and tenant, cost per 1M tokens, idle cost and
utilisation, budgets, the hosted-API comparison and the cost-anomaly band.

Costs carry a `currency` label and are never summed across it. Rates are shown per hour
(the agent's counters are per second; spend per hour is how budgets are thought of).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import HALF, QUARTER, THIRD, WIDE, bars, graph, listing, single
from dashboards.grafana.promql import RATE, increase, rate, ratio, recorded, series, sum_by
from dashboards.grafana.units import money

MODEL, TENANT = "gen_ai_request_model", "tenant"
REQUESTS = "inferwatch_cost_requests_total"
TOKENS = "inferwatch_tokens_total"  # by tenant, as the cost counters


def _hourly(expr: str) -> str:
    return f"3600 * {expr}"


def _spend(unit: str):
    total = sum_by("currency", increase(REQUESTS))
    machine = sum_by("currency", increase("inferwatch_cost_metered_total"))
    idle = sum_by("currency", increase("inferwatch_cost_idle_total"))
    busy = sum_by("", rate("inferwatch_cost_device_seconds_total"))
    return [
        single(
            "Spend of requests",
            "What the selected requests cost over the time range (their share of the measured machine cost).",
            unit,
            total,
            legend="{{currency}}",
        ),
        single(
            "Machine cost",
            "What the machines cost over the time range (every agent selected): requests' share plus idle.",
            unit,
            machine,
            legend="{{currency}}",
        ),
        single(
            "Idle cost",
            "The part of the machine cost no request used over the time range.",
            unit,
            idle,
            legend="{{currency}}",
        ),
        single(
            "Utilisation",
            "Share of the machine cost that requests used over the time range (1 - idle / machine).",
            "percentunit",
            f"1 - {ratio(idle, machine)}",
            legend="{{currency}}",
        ),
        graph(
            "Spend per hour by model",
            "Cost of requests per hour by model (a rate over the panel interval, times 3600).",
            unit,
            [
                (
                    _hourly(sum_by(f"{MODEL}, currency", rate(REQUESTS))),
                    f"{{{{{MODEL}}}}} {{{{currency}}}}",
                )
            ],
            stack=True,
        ),
        graph(
            "Spend per hour by tenant",
            "Cost of requests per hour by tenant.",
            unit,
            [
                (
                    _hourly(sum_by(f"{TENANT}, currency", rate(REQUESTS))),
                    f"{{{{{TENANT}}}}} {{{{currency}}}}",
                )
            ],
            stack=True,
        ),
        graph(
            "Cost per 1M tokens",
            "Cost of one million tokens (input and output) by model over the panel interval, from measured cost and the usage reports, for the tenants selected.",
            unit,
            [
                (
                    f"1e6 * {sum_by(f'{MODEL}, currency', rate(REQUESTS))} / on ({MODEL}) group_left {sum_by(MODEL, rate(TOKENS))}",
                    f"{{{{{MODEL}}}}} {{{{currency}}}}",
                )
            ],
        ),
        graph(
            "Cost per 1M tokens since start",
            "The agent's own figure per model and token type: cost over tokens since the agent started.",
            unit,
            [
                (
                    series("inferwatch_cost_per_million_tokens"),
                    f"{{{{{MODEL}}}}} {{{{gen_ai_token_type}}}}",
                )
            ],
        ),
        graph(
            "Cost per request",
            "Percentiles of what one request cost, by model.",
            unit,
            [
                (
                    f"histogram_quantile({q}, {sum_by(f'le, {MODEL}', rate('inferwatch_cost_request_bucket'))})",
                    f"p{round(q * 100)} {{{{{MODEL}}}}}",
                )
                for q in (0.5, 0.95)
            ],
            span=HALF,
        ),
        graph(
            "Busy device time",
            "Device (GPU or CPU) seconds used per second by the served engine, by device type: 1 is one device busy all the time.",
            "short",
            [
                (
                    sum_by("device_type", rate("inferwatch_cost_device_seconds_total")),
                    "{{device_type}}",
                ),
                (busy, "total"),
            ],
            span=HALF,
        ),
    ]


def _idle(unit: str):
    return [
        graph(
            "Machine cost per hour: used and idle",
            "The machine cost per hour, split into what requests used and what stood idle.",
            unit,
            [
                (_hourly(sum_by("currency", rate(REQUESTS))), "requests {{currency}}"),
                (
                    _hourly(sum_by("currency", rate("inferwatch_cost_idle_total"))),
                    "idle {{currency}}",
                ),
            ],
            stack=True,
        ),
        graph(
            "Device utilisation",
            "Utilisation of each metered device, as the cost engine measured it.",
            "percentunit",
            [(series("inferwatch_cost_device_utilization_ratio"), "{{device_type}} {{device_id}}")],
            soft_max=1,
        ),
        graph(
            "Unmetered requests",
            "Requests per second whose cost is a lower bound (some of their time no meter covered: vLLM's processes not found, a collector failing).",
            "reqps",
            [(sum_by(MODEL, rate("inferwatch_cost_records_unmetered_total")), f"{{{{{MODEL}}}}}")],
            span=HALF,
        ),
        graph(
            "Requests awaiting their cost",
            "Records held until a meter reading covers their end.",
            "short",
            [(sum_by("instance", series("inferwatch_cost_records_held")), "{{instance}}")],
            span=HALF,
        ),
    ]


def _budgets(unit: str):
    return [
        bars(
            "Budget used today",
            "Share of each tenant's daily budget (cost.budgets) spent since midnight UTC.",
            "percentunit",
            [(series("inferwatch_cost_budget_ratio"), f"{{{{{TENANT}}}}}")],
            span=THIRD,
            maximum=1,
        ),
        graph(
            "Spend today by tenant",
            "Each tenant's spend since midnight UTC.",
            unit,
            [(series("inferwatch_cost_tenant_spend_today"), f"{{{{{TENANT}}}}} {{{{currency}}}}")],
            span=THIRD,
        ),
        graph(
            "Budget overruns",
            "Times a tenant went over its daily budget, per interval.",
            "short",
            [
                (
                    sum_by(
                        TENANT,
                        increase("inferwatch_cost_budget_exceeded_total", window=RATE),
                    ),
                    f"{{{{{TENANT}}}}}",
                )
            ],
            span=THIRD,
        ),
        listing(
            "Budget forecast",
            "The alert evaluator's view: share of each budget used and seconds until it runs out at the current pace.",
            "short",
            [
                (series("inferwatch_budget_used_ratio"), "used"),
                (series("inferwatch_budget_exhaustion_forecast_seconds"), "runs out in (s)"),
            ],
            span=WIDE,
        ),
    ]


def _hosted(unit: str):
    hosted = "inferwatch_cost_hosted_equivalent_total"
    own, theirs = sum_by("currency", increase(REQUESTS)), sum_by("currency", increase(hosted))
    return [
        graph(
            "Self-hosted and hosted-API cost per hour",
            "What requests cost here per hour, and what the same tokens would cost at the hosted API's list price (cost.hosted_prices).",
            unit,
            [
                (
                    _hourly(sum_by(f"{MODEL}, currency", rate(REQUESTS))),
                    f"self-hosted {{{{{MODEL}}}}}",
                ),
                (_hourly(sum_by(f"{MODEL}, currency", rate(hosted))), f"hosted {{{{{MODEL}}}}}"),
            ],
            span=18,
        ),
        single(
            "Saved against the hosted API",
            "1 - self-hosted cost / hosted-API cost of the same tokens over the time range (negative: the hosted API would have been cheaper).",
            "percentunit",
            f"1 - {ratio(own, theirs)}",
            legend="{{currency}}",
            span=QUARTER,
        ),
    ]


def _anomaly(unit: str):
    band = "tenant:inferwatch_cost_requests:rate5m"
    return [
        graph(
            "Cost anomaly band",
            "Spend per hour of each tenant against the robust band of the recording rules"
            " (median +/- 3 MAD over a day and a week ago). Needs alerts/rules/recording.yml"
            " loaded in Prometheus.",
            unit,
            [
                (_hourly(recorded(band)), f"{{{{{TENANT}}}}}"),
                (_hourly(recorded(band + "_upper_band")), f"upper {{{{{TENANT}}}}}"),
                (_hourly(recorded(band + "_lower_band")), f"lower {{{{{TENANT}}}}}"),
            ],
            span=WIDE,
        ),
        graph(
            "Anomaly score",
            "The agent's own cost-anomaly detector (alerts.cost): robust z-score of each cost"
            " series' last interval, (value - baseline median) / MAD, per series and segment.",
            "short",
            [(series("inferwatch_cost_anomaly_score"), "{{series}} {{segment}}")],
            span=THIRD,
        ),
        graph(
            "Detector baseline",
            "The baseline median each cost series' last interval was compared with.",
            unit,
            [(series("inferwatch_cost_anomaly_expected"), "{{series}} {{segment}}")],
            span=THIRD,
        ),
        graph(
            "Anomalous series",
            "Cost series outside their band for the configured number of intervals (1: anomaly).",
            "short",
            [(f"{series('inferwatch_cost_anomaly')} > 0", "{{series}} {{segment}}")],
            span=THIRD,
            stack=True,
        ),
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The Cost board."""
    unit = money(options.currency)
    b = new_board(
        "cost",
        "Cost",
        "Cost per request from measured hardware use: spend, idle cost, budgets and the hosted-API comparison.",
        ("model", "tenant"),
    )
    for title, panels in (
        ("Spend", _spend(unit)),
        ("Idle cost and utilisation", _idle(unit)),
        ("Budgets", _budgets(unit)),
        ("Hosted-API comparison", _hosted(unit)),
        ("Cost anomalies", _anomaly(unit)),
    ):
        b = with_row(b, title, panels)
    return b
