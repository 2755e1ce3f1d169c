"""PromQL for the boards, built from the metrics catalogue.

Every series a board reads goes through `series()`, which refuses a name the catalogue
does not declare (so a renamed metric breaks generation, not a panel in production) and
adds the board's variables as matchers on exactly the labels the family carries: `job`
and `instance` always (Prometheus adds them), `gen_ai_request_model`, `tenant`, `gpu`,
`experiment` and `variant` where declared. A matcher on a label a family lacks would
still match (the empty value matches `.*`) but would silently ignore the user's choice,
so it is never added.
"""

from __future__ import annotations

from functools import cache

from agent.catalogue import MetricSpec, load_catalogue
from alerts.rules.load import recorded_names

# Board variable -> the label it filters, for families that carry that label. A board that
# reads a family with one of these labels declares the variable (a test holds them to it).
FILTERS = {
    "gen_ai_request_model": "model",
    "tenant": "tenant",
    "gpu": "gpu",
    "experiment": "experiment",
    "variant": "variant",
}
# Recording-rule levels (the part before the first colon) -> the labels they keep.
LEVELS = {"model": ("gen_ai_request_model",), "tenant": ("tenant",), "currency": ()}
LEVELS["model_tenant"] = LEVELS["model"] + LEVELS["tenant"]
_SUFFIXES = ("_bucket", "_count", "_sum")
RATE = "$__rate_interval"


@cache
def catalogue() -> dict[str, MetricSpec]:
    """The packaged catalogue, read once."""
    return load_catalogue()


def spec_of(name: str) -> MetricSpec:
    """The catalogue family of a series name (a histogram's _bucket/_count/_sum included)."""
    specs = catalogue()
    if name in specs:
        return specs[name]
    for suffix in _SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in specs and specs[base].type == "histogram":
            return specs[base]
    raise KeyError(f"{name} is not in the metrics catalogue (agent/catalogue.yaml)")


def series(name: str, *extra: str) -> str:
    """`name{job=~"$job",instance=~"$instance",...}` with the filters its labels allow,
    then `extra` matchers (already formatted, e.g. 'status="error"')."""
    spec = spec_of(name)
    matchers = ['job=~"$job"', 'instance=~"$instance"']
    matchers += [f'{label}=~"${var}"' for label, var in FILTERS.items() if label in spec.labels]
    return f"{name}{{{','.join([*matchers, *extra])}}}"


def rate(name: str, *extra: str, window: str = RATE) -> str:
    """rate() of a counter (or a histogram's _count/_sum/_bucket) over the panel window."""
    spec = spec_of(name)
    if spec.type not in ("counter", "histogram"):
        raise ValueError(f"rate() of {name}, a {spec.type}: rate only counters")
    return f"rate({series(name, *extra)}[{window}])"


def increase(name: str, *extra: str, window: str = "$__range") -> str:
    """increase() of a counter over the dashboard's range (totals for stat panels)."""
    spec = spec_of(name)
    if spec.type not in ("counter", "histogram"):
        raise ValueError(f"increase() of {name}, a {spec.type}: increase only counters")
    return f"increase({series(name, *extra)}[{window}])"


def sum_by(labels: str, inner: str) -> str:
    """`sum by (labels) (inner)`, or a plain sum when labels is empty."""
    return f"sum by ({labels}) ({inner})" if labels else f"sum({inner})"


def quantile(q: float, histogram: str, by: str = "") -> str:
    """The q-quantile of a histogram's rate over the panel window, grouped by `by`."""
    keep = ", ".join(["le", *([by] if by else [])])
    return f"histogram_quantile({q}, {sum_by(keep, rate(histogram + '_bucket'))})"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator, with a zero denominator giving no point instead of NaN."""
    return f"({numerator}) / ({denominator} > 0)"


def recorded(name: str, *extra: str) -> str:
    """A series of the shipped recording rules (alerts/rules/recording.yml), with the
    filters its level keeps; a rule aggregates `job` and `instance` away."""
    if name not in recorded_names():
        raise KeyError(f"{name} is not recorded by alerts/rules/recording.yml")
    labels = LEVELS[name.split(":", 1)[0]]
    matchers = [f'{label}=~"${FILTERS[label]}"' for label in labels]
    return f"{name}{{{','.join([*matchers, *extra])}}}"
