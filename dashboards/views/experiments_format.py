"""How the Experiments page writes a report's metrics: their names, values in their units
(durations, money, tokens, shares), differences with their 95% intervals, p-values and
verdict colours. Pure functions over `ExperimentReport.to_json()` values, so tests can
compute the text the page shows."""

from __future__ import annotations

from dashboards.ui import fmt

NAMES = {
    "latency_s": "latency",
    "ttft_s": "time to first token",
    "tpot_s": "time per output token",
    "prompt_tokens": "prompt tokens",
    "completion_tokens": "completion tokens",
    "cost_per_request": "cost per request",
    "cost_per_1m_tokens": "cost per 1M tokens",
    "error_rate": "error rate",
    "paired.latency_s": "paired latency",
    "paired.completion_tokens": "paired completion tokens",
    "paired.cost": "paired cost",
}
PREFIXES = {"safety_rate.": "safety hits: ", "finish_reason.": "finish reason: "}
VERDICTS = {  # verdict -> (words, Streamlit markdown colour, plot colour)
    "worse": ("worse", "red", "#d62728"),
    "better": ("better", "green", "#2ca02c"),
    "no_difference": ("no difference", "gray", "#7f7f7f"),
    "not_enough_data": ("not enough data", "orange", "#ff7f0e"),
}
_SECONDS = ("latency_s", "ttft_s", "tpot_s", "paired.latency_s")
_MONEY = ("cost_per_request", "cost_per_1m_tokens", "paired.cost")


def name(metric: str) -> str:
    """`latency_s` -> `latency`, `safety_rate.pii.email` -> `safety hits: pii.email`."""
    for prefix, words in PREFIXES.items():
        if metric.startswith(prefix):
            return words + metric[len(prefix) :]
    return NAMES.get(metric, metric)


def is_rate(m: dict) -> bool:
    """Whether a metric's effect is a proportion (shown as % and points)."""
    return bool(m["effect"]) and m["effect"]["estimand"] == "rate"


def value(m: dict, x: float | None, currency: str) -> str:
    """One value of metric `m` (a `metrics[]` entry) in its unit; `–` when unknown."""
    if x is None:
        return "–"
    if is_rate(m):
        return fmt.share(x, 2)
    if m["metric"] in _SECONDS:
        return fmt.duration(x) if x >= 0 else "-" + fmt.duration(-x)
    if m["metric"] in _MONEY:
        return fmt.money(x, currency)
    return f"{x:,.1f}"


def difference(m: dict, currency: str) -> str:
    """`+120 ms [80 ms, 160 ms]`, `+2.10 points [0.50, 3.70]`; the reason when the metric
    has no effect (not enough data)."""
    e = m["effect"]
    if e is None:
        return m["reason"] or "–"
    low, high = e["ci"]
    if is_rate(m):
        return f"{_points(e['difference'], True)} points [{_points(low)}, {_points(high)}]"
    shown = value(m, e["difference"], currency)
    sign = "+" if e["difference"] is not None and e["difference"] >= 0 else ""
    return f"{sign}{shown} [{value(m, low, currency)}, {value(m, high, currency)}]"


def _points(x: float | None, sign: bool = False) -> str:
    return "–" if x is None else f"{100 * x:{'+' if sign else ''}.2f}"


def p_value(p: float | None) -> str:
    """`<0.001`, `0.042`, or `–`."""
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(v: str) -> str:
    """The verdict's words as a coloured badge in Streamlit markdown (`:red-badge[worse]`)."""
    words, colour, _ = VERDICTS[v]
    return f":{colour}-badge[{words}]"
