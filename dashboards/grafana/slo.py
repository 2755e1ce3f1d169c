"""The SLO choices of the Serving board: custom variables whose options are bucket bounds
of the catalogue's histograms, so "the share of requests within the SLO" is an exact
bucket ratio, never an interpolation."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models.dashboard import VariableOption
from prometheus_client.utils import floatToGoString

from dashboards.grafana.promql import rate, spec_of, sum_by

# (variable, histogram, label, bounds offered, default): the bounds must be buckets.
SLOS = (
    ("slo_latency", "gen_ai_server_request_duration_seconds", "Latency SLO (s)",
     (1.28, 2.56, 5.12, 10.24, 20.48), 10.24),
    ("slo_ttft", "gen_ai_server_time_to_first_token_seconds", "TTFT SLO (s)",
     (0.25, 0.5, 1.0, 2.5, 5.0), 1.0),
    ("slo_tpot", "gen_ai_server_time_per_output_token_seconds", "TPOT SLO (s)",
     (0.025, 0.05, 0.1, 0.2, 0.5), 0.1),
)  # fmt: skip
# The per-tenant histograms hold only these bounds, so the same choices apply to them.
PER_TENANT = {
    "slo_latency": "inferwatch_tenant_request_duration_seconds",
    "slo_ttft": "inferwatch_tenant_time_to_first_token_seconds",
}


def variables() -> list:
    """One custom variable per SLO; raises if a bound is not a bucket of its histogram
    (or of the per-tenant histogram of the same quantity)."""
    out = []
    for name, histogram, text, bounds, default in SLOS:
        for h in (histogram, PER_TENANT.get(name)):
            if h is not None:
                check_bounds(name, h, bounds)
        values = [floatToGoString(b) for b in bounds]  # as /metrics writes `le`
        current = floatToGoString(default)
        out.append(
            dashboard.CustomVariable(name)
            .label(text)
            .values(",".join(values))
            .current(_option(current))
        )
    return out


def check_bounds(name: str, histogram: str, bounds: tuple[float, ...]) -> None:
    """Raise ValueError naming the bounds that are not buckets of `histogram`."""
    buckets = set(spec_of(histogram).buckets)
    missing = [b for b in bounds if b not in buckets]
    if missing:
        raise ValueError(f"{name}: {missing} are not buckets of {histogram}")


def _option(value: str) -> VariableOption:
    return VariableOption(selected=True, text=value, value=value)


def within(histogram: str, variable: str, by: str = "") -> str:
    """Share of observations at or under the SLO bound chosen in `variable`."""
    good = sum_by(by, rate(histogram + "_bucket", f'le="${variable}"'))
    return f"{good} / ({sum_by(by, rate(histogram + '_count'))} > 0)"
