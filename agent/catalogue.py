"""The metrics catalogue: load `catalogue.yaml` and build prometheus_client instruments from it.

One data file declares every metric (name, type, unit, labels, help, buckets); the
instruments, the README table and the dashboards are derived from it, and a test holds
the live `/metrics` page against it both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agent.fastmetrics import AgentRegistry, FastCounter, FastGauge, FastHistogram

_TYPES = {"counter", "gauge", "histogram", "info"}


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One declared metric family."""

    name: str
    type: str
    unit: str
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    source: str = "agent"


def load_catalogue(path: str | Path | None = None) -> dict[str, MetricSpec]:
    """Read the catalogue (the packaged one by default) into specs keyed by family name."""
    if path is None:
        text = resources.files("agent").joinpath("catalogue.yaml").read_text()
    else:
        text = Path(path).read_text()
    specs: dict[str, MetricSpec] = {}
    for raw in yaml.safe_load(text)["metrics"]:
        spec = MetricSpec(
            name=raw["name"],
            type=raw["type"],
            unit=raw["unit"],
            labels=tuple(raw.get("labels") or ()),
            help=raw["help"],
            buckets=tuple(float(b) for b in raw.get("buckets") or ()),
            source=raw.get("source", "agent"),
        )
        if spec.type not in _TYPES:
            raise ValueError(f"catalogue: {spec.name}: unknown type {spec.type!r}")
        if spec.name in specs:
            raise ValueError(f"catalogue: {spec.name} declared twice")
        specs[spec.name] = spec
    return specs


def build_instrument(spec: MetricSpec, registry: CollectorRegistry):
    """Create the instrument for an agent-owned spec, registered in `registry`: a fast family
    when `registry` is an `AgentRegistry` (see agent/fastmetrics.py), else prometheus_client's."""
    if isinstance(registry, AgentRegistry):
        return registry.add_fast(_fast_family(spec))
    if spec.type == "counter":
        # prometheus_client appends `_total` itself.
        return Counter(spec.name.removesuffix("_total"), spec.help, spec.labels, registry=registry)
    if spec.type in ("gauge", "info"):
        return Gauge(spec.name, spec.help, spec.labels, registry=registry)
    return Histogram(spec.name, spec.help, spec.labels, buckets=spec.buckets, registry=registry)


def _fast_family(spec: MetricSpec):
    if spec.type == "counter":
        return FastCounter(spec.name, spec.help, spec.labels)
    if spec.type in ("gauge", "info"):
        return FastGauge(spec.name, spec.help, spec.labels)
    return FastHistogram(spec.name, spec.help, spec.labels, spec.buckets)


def markdown_table(specs: dict[str, MetricSpec]) -> str:
    """The catalogue as a Markdown table, for the README's metrics reference."""
    rows = ["| metric | type | unit | labels | help |", "| --- | --- | --- | --- | --- |"]
    for s in specs.values():
        labels = ", ".join(f"`{label}`" for label in s.labels) or "-"
        rows.append(f"| `{s.name}` | {s.type} | {s.unit} | {labels} | {s.help} |")
    return "\n".join(rows)
