"""The Safety board: safety-filter hits by filter, direction (request or response) and
action (flagged, redacted, blocked)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.grafana.board import BoardOptions, new_board, with_row
from dashboards.grafana.panels import THIRD, graph, listing, single
from dashboards.grafana.promql import increase, rate, sum_by

HITS = "inferwatch_safety_filter_hits_total"


def _panels():
    return [
        single(
            "Hits",
            "Safety-filter hits over the time range, every filter and direction.",
            "short",
            sum_by("", increase(HITS)),
            span=THIRD,
        ),
        single(
            "Blocked",
            "Hits whose action blocked the request or response, over the time range.",
            "short",
            sum_by("", increase(HITS, 'action="block"')),
            span=THIRD,
        ),
        single(
            "Redacted",
            "Hits whose action redacted the matched text, over the time range.",
            "short",
            sum_by("", increase(HITS, 'action="redact"')),
            span=THIRD,
        ),
        graph(
            "Hits by filter",
            "Hits per second by filter (PII kinds, secrets, prompt injection, blocklists ...).",
            "short",
            [(sum_by("filter", rate(HITS)), "{{filter}}")],
            stack=True,
        ),
        graph(
            "Hits by direction and action",
            "Hits per second on requests (input) and responses (output), by the action taken.",
            "short",
            [(sum_by("direction, action", rate(HITS)), "{{direction}} {{action}}")],
            stack=True,
        ),
        listing(
            "Hits in the time range",
            "Every filter, direction and action that hit in the time range, with the count.",
            "short",
            [(f"{sum_by('filter, direction, action', increase(HITS))} > 0", "hits")],
            span=24,
        ),
    ]


def build(options: BoardOptions) -> dashboard.Dashboard:
    """The Safety board."""
    b = new_board(
        "safety",
        "Safety",
        "What the safety filters found in requests and responses, and what they did.",
    )
    return with_row(b, "Safety filters", _panels())
