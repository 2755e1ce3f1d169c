"""The Experiments board: the variants of a split, canary or shadow experiment side by
side: traffic share, canary steps and rollbacks, latency and TTFT, cost per request and
per 1M output tokens, error ratio, safety hits, and the shadow copies' outcomes.

Every per-variant figure is a ratio of the agent's per-variant counters over the same
window, so variants that received very different shares of traffic stay comparable.
Costs keep their `currency` label (never summed across it), as on the Cost board.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, label_variable, new_board, with_row
from dashboards.grafana.panels import DATASOURCE, QUARTER, THIRD, graph, single, states
from dashboards.grafana.promql import RATE, increase, quantile, rate, ratio, series, sum_by
from dashboards.grafana.units import money

BY = "experiment, variant"
LEGEND = "{{experiment}} {{variant}}"
REQUESTS = "inferwatch_experiment_requests_total"
DURATION = "inferwatch_experiment_request_duration_seconds"
TTFT = "inferwatch_experiment_time_to_first_token_seconds"
TOKENS = "inferwatch_experiment_tokens_total"
COST = "inferwatch_experiment_cost_total"
HITS = "inferwatch_experiment_safety_hits_total"
WEIGHT = "inferwatch_experiment_variant_weight_ratio"
ROLLBACKS = "inferwatch_experiment_rollbacks_total"
SHADOW = "inferwatch_experiment_shadow_requests_total"
# Every variant that served a request has a series here (shadow copies count under theirs).
SOURCE = f'{REQUESTS}{{job=~"$job",instance=~"$instance"}}'


def per(numerator: str, denominator: str, on: str) -> str:
    """`numerator` (which keeps more labels) over `denominator` matched on the labels `on`:
    each series of the numerator divided by its group's total (no point where it is 0)."""
    return f"({numerator}) / on ({on}) group_left () ({denominator} > 0)"


def _requests_rate(by: str = BY) -> str:
    return sum_by(by, rate(REQUESTS))


def _traffic():
    return [
        graph(
            "Variant weight",
            "Share of all requests the router sends to each variant now, as configured; a canary's moves with its steps (split and shadow experiments export none).",
            "percentunit",
            [(f"avg by ({BY}) ({series(WEIGHT)})", LEGEND)],
            span=THIRD,
            soft_max=1,
        ),
        graph(
            "Requests per second by variant",
            "Requests of each variant per second, every status, shadow copies included under their variant.",
            "reqps",
            [(_requests_rate(), LEGEND)],
            span=THIRD,
            stack=True,
        ),
        graph(
            "Measured share by variant",
            "Each variant's share of its experiment's requests over the interval (among the variants selected above: with All, of the whole experiment): what the router did, to hold against the weight.",
            "percentunit",
            [(per(_requests_rate(), _requests_rate("experiment"), "experiment"), LEGEND)],
            span=THIRD,
            soft_max=1,
        ),
        states(
            "Canary state",
            "Which state each canary was in over time: running, completed, promoted or rolled_back (a failed gate sent the traffic back to the control).",
            [(f"max by (experiment, state) ({series('inferwatch_experiment_canary_state')})", "{{experiment}} {{state}}")],
            span=THIRD,
        ),
        single(
            "Canary step",
            "The canary's current step of its schedule, from 1; 0 before the first step starts or after a rollback.",
            "short",
            f"max by (experiment) ({series('inferwatch_experiment_canary_step')})",
            legend="{{experiment}}",
            span=QUARTER,
        ),
        single(
            "Rollbacks",
            "Canary rollbacks over the time range (also marked on every graph by the Canary rollbacks annotation).",
            "short",
            sum_by("", increase(ROLLBACKS)),
            span=QUARTER,
            decimals=0,
        ),
        single(
            "Upstreams up",
            "Per configured upstream: yes when every selected agent reached it at its last probe or request, no when any failed.",
            "bool_yes_no",
            f"min by (upstream) ({series('inferwatch_upstreams_up')})",
            legend="{{upstream}}",
            span=4,
        ),
    ]  # fmt: skip


def _speed():
    return [
        graph(
            title,
            f"{text} p50 and p95 per variant, from the agent's per-variant histogram over the interval.",
            "s",
            [(quantile(q, name, BY), f"p{round(q * 100)} {LEGEND}") for q in (0.5, 0.95)],
        )
        for title, name, text in (
            ("Latency by variant", DURATION, "End-to-end duration of the experiment's requests."),
            ("Time to first token by variant", TTFT, "Time from the request to its first token."),
        )
    ]


def _cost(unit: str):
    spend = sum_by(f"{BY}, currency", rate(COST))
    output = sum_by(BY, rate(TOKENS, 'gen_ai_token_type="output"'))
    return [
        graph(
            "Cost per request by variant",
            "Metered cost per request of each variant over the interval: cost counted over requests counted (every status).",
            unit,
            [(per(spend, _requests_rate(), BY), f"{LEGEND} {{{{currency}}}}")],
            span=THIRD,
        ),
        graph(
            "Cost per 1M output tokens by variant",
            "Each variant's whole metered cost (prefill included) over the output tokens it generated, per million.",
            unit,
            [(f"1e6 * {per(spend, output, BY)}", f"{LEGEND} {{{{currency}}}}")],
            span=THIRD,
        ),
        graph(
            "Tokens per request by variant",
            "Input and output tokens per request of each variant, from the upstream's usage report.",
            "short",
            [
                (
                    per(sum_by(f"{BY}, gen_ai_token_type", rate(TOKENS)), _requests_rate(), BY),
                    f"{LEGEND} {{{{gen_ai_token_type}}}}",
                )
            ],
            span=THIRD,
        ),
    ]


def _errors():
    return [
        graph(
            "Error ratio by variant",
            "Share of each variant's requests that ended in an error over the interval.",
            "percentunit",
            [(ratio(sum_by(BY, rate(REQUESTS, 'status="error"')), _requests_rate()), LEGEND)],
        ),
        graph(
            "Requests by variant and status",
            "Requests per second of each variant by status: ok, error, cancelled (the client hung up).",
            "reqps",
            [(sum_by(f"{BY}, status", rate(REQUESTS)), f"{LEGEND} {{{{status}}}}")],
            stack=True,
        ),
    ]


def _safety():
    hits = sum_by(f"{BY}, filter", rate(HITS))
    return [
        graph(
            "Safety hits by variant and filter",
            "Safety-filter hits per second on each variant's requests and responses, by filter.",
            "short",
            [(hits, f"{LEGEND} {{{{filter}}}}")],
            stack=True,
        ),
        graph(
            "Safety hits per request by variant",
            "Hits of each filter per request of the variant over the interval: comparable across variants whatever their share.",
            "short",
            [(per(hits, _requests_rate(), BY), f"{LEGEND} {{{{filter}}}}")],
        ),
    ]


def _shadow():
    outcomes = sum_by("experiment, outcome", rate(SHADOW))
    return [
        graph(
            "Shadow copies by outcome",
            "Shadow copies per second: ok, error (the shadow upstream failed or is down), skipped (too many in flight), cancelled (the client hung up first).",
            "reqps",
            [(outcomes, "{{experiment}} {{outcome}}")],
            stack=True,
        ),
        graph(
            "Shadow outcome share",
            "Share of each experiment's shadow copies by outcome over the interval; the client never waits for a shadow, so its errors cost the primary nothing.",
            "percentunit",
            [(per(outcomes, sum_by("experiment", rate(SHADOW)), "experiment"), "{{experiment}} {{outcome}}")],
            soft_max=1,
        ),
    ]  # fmt: skip


def _rollbacks_annotation() -> dashboard.AnnotationQuery:
    # A rollback explains a step down of the canary's weight and its traffic on every graph.
    return (
        dashboard.AnnotationQuery()
        .name("Canary rollbacks")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .expr(f"{sum_by('experiment', increase(ROLLBACKS, window=RATE))} > 0")
    )


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The Experiments board."""
    b = new_board(
        "experiments",
        "Experiments",
        "A/B splits, canaries and shadow traffic: the variants of each experiment side by side on traffic, speed, cost, errors and safety.",
    )
    b = b.annotation(_rollbacks_annotation())
    b = b.with_variable(label_variable("experiment", "experiment", SOURCE, "Experiment"))
    variants = SOURCE.replace("}", ',experiment=~"$experiment"}')
    b = b.with_variable(label_variable("variant", "variant", variants, "Variant"))
    for title, panels in (
        ("Traffic share", _traffic()),
        ("Speed", _speed()),
        ("Cost", _cost(money(options.currency))),
        ("Errors", _errors()),
        ("Safety", _safety()),
        ("Shadow traffic", _shadow()),
    ):
        b = with_row(b, title, panels)
    return b
