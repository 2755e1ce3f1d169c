"""The metrics catalogue: `catalogue.yaml` loaded into validated `MetricSpec`s.

One data file declares every metric (name, type, unit, labels, help, buckets, source); the
instruments (agent/metrics.py), the collectors' families, the README table and the
dashboards are derived from it, and tests hold the live `/metrics` page against it both
ways (names, types, labels and help texts). A malformed entry (an unknown key, a wrong
type, a counter not ending in `_total`, unsorted buckets) is an error naming the metric.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"  # Prometheus names without colons (promtool's rule)
_LABEL = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
LabelName = Annotated[str, Field(pattern=_LABEL)]


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message names the metric and the key."""


class MetricSpec(BaseModel):
    """One declared metric family (`name` as exposed: counters end in `_total`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    type: Literal["counter", "gauge", "histogram", "info"]
    unit: str = Field(min_length=1)
    labels: tuple[LabelName, ...] = ()
    help: str = Field(min_length=1, pattern=r"^[^\n]+$")
    buckets: tuple[float, ...] = ()
    source: str = "agent"  # who exports it: agent, prometheus_client, collectors.<name>, alerts

    @model_validator(mode="after")
    def _consistent(self) -> MetricSpec:
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError("a counter's name ends in _total (as exposed)")
        if len(set(self.labels)) != len(self.labels) or any(
            x.startswith("__") for x in self.labels
        ):
            raise ValueError(f"labels {list(self.labels)}: duplicated or reserved (__)")
        if any(b >= c for b, c in zip(self.buckets, self.buckets[1:], strict=False)):
            raise ValueError(f"buckets {list(self.buckets)} are not strictly increasing")
        if self.buckets and self.type != "histogram":
            raise ValueError("buckets on a metric that is not a histogram")
        if self.type == "histogram" and self.source == "agent" and not self.buckets:
            raise ValueError("an agent histogram needs its buckets")  # vLLM's keep their own
        return self

    def family(self) -> Any:
        """An empty prometheus_client family of this spec (its name, help and labels) for a
        custom collector to add samples to; info metrics are exposed as gauges. (Typed Any:
        which family class it is follows the spec's type, which the caller knows.)"""
        labels = list(self.labels)
        if self.type == "counter":  # CounterMetricFamily takes the name without `_total`
            return CounterMetricFamily(self.name, self.help, labels=labels)
        if self.type == "histogram":
            return HistogramMetricFamily(self.name, self.help, labels=labels)
        return GaugeMetricFamily(self.name, self.help, labels=labels)


def load_catalogue(path: str | Path | None = None) -> dict[str, MetricSpec]:
    """Read the catalogue (the packaged one by default) into specs keyed by family name.
    Raises `CatalogueError` naming the metric and key at the first malformed entry."""
    if path is None:
        text = resources.files("agent").joinpath("catalogue.yaml").read_text()
    else:
        text = Path(path).read_text()
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or set(doc) != {"metrics"} or not isinstance(doc["metrics"], list):
        raise CatalogueError("catalogue: the file holds one key, `metrics`, a list of metrics")
    specs: dict[str, MetricSpec] = {}
    for i, raw in enumerate(doc["metrics"]):
        spec = _spec(raw, i)
        if spec.name in specs:
            raise CatalogueError(f"catalogue: {spec.name} declared twice")
        specs[spec.name] = spec
    return specs


def _spec(raw: object, index: int) -> MetricSpec:
    name = raw.get("name", f"entry {index}") if isinstance(raw, dict) else f"entry {index}"
    try:
        return MetricSpec.model_validate(raw)
    except ValidationError as err:
        raise CatalogueError(f"catalogue: {name}: {_first_problem(err)}") from None


def _first_problem(err: ValidationError) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "entry"
    if e["type"] == "extra_forbidden":
        # The usual cause: an unquoted ", " or ": " inside a {flow: mapping} value splits it.
        return f"unknown key {key!r} (quote a help text holding ', ' or ': ')"
    return f"{key}: {re.sub(r'^Value error, ', '', e['msg'])}"


@cache
def packaged() -> Mapping[str, MetricSpec]:
    """The packaged catalogue, read once (a read-only view; collectors look specs up here)."""
    return MappingProxyType(load_catalogue())


def spec(name: str) -> MetricSpec:
    """The packaged spec of `name`; KeyError (saying where to declare it) if undeclared."""
    try:
        return packaged()[name]
    except KeyError:
        raise KeyError(f"{name} is not declared in agent/catalogue.yaml") from None


def exported_by(source: str) -> list[MetricSpec]:
    """The packaged specs whose `source` is `source` (e.g. `collectors.host`)."""
    return [s for s in packaged().values() if s.source == source]


def markdown_table(specs: Mapping[str, MetricSpec]) -> str:
    """The catalogue as a Markdown table, for the README's metrics reference."""
    rows = ["| metric | type | unit | labels | help |", "| --- | --- | --- | --- | --- |"]
    for s in specs.values():
        labels = ", ".join(f"`{label}`" for label in s.labels) or "-"
        rows.append(f"| `{s.name}` | {s.type} | {s.unit} | {labels} | {s.help} |")
    return "\n".join(rows)
