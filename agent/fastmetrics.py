"""Lean counters, gauges and histograms for the agent's own labelled request metrics.

Why not prometheus_client's instruments here: with 50 tenants x 5 models the request
histograms alone are ~20,000 exposition lines, and prometheus_client 0.26 spends ~17 us of
CPU per line building `Sample` tuples, escaping labels and formatting floats on every scrape
(~400 ms CPU a scrape, measured in bench/collectors_bench.py). These instruments keep plain
Python numbers per series and render each series from text prepared once, when the series
is first seen (~1 us a line).

The threading rule. The request path observes on the event loop, and the /metrics handler
renders there too, but other threads update some families (the store's writer thread counts
what it wrote, dropped or rejected; the shipper and collectors may run off the loop). A
new label value seen mid-scrape would change the table of series that the renderer is
iterating ("RuntimeError: dictionary changed size during iteration"). So each family has
a lock that guards its table of series, and only that: a thread takes it to add a series,
and `render` and `collect` take it to copy the table (`list(...)`) before they iterate.
Looking up an existing series takes no lock, nor does updating a value: a value is one
Python float (a histogram, a list of counts), and a scrape reads it as it is. Locking
every update (prometheus_client's way) costs about 0.4 us each on the request path;
instead one series should be incremented by one thread (two threads incrementing the same
series at the same instant could lose one increment to the GIL's interleaving).

They keep prometheus_client's instrument API (`labels(...)`, `inc`, `dec`, `set`,
`set_function`, `observe`) and are also ordinary prometheus_client collectors (`collect()`),
so `registry.get_sample_value` and `generate_latest` still see them.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString


def _escape(value: str) -> str:
    # A value that UTF-8 cannot encode (aiohttp decodes a non-UTF-8 header byte as a lone
    # surrogate, '\udcff') is written with Python's backslash escapes, which the escaping
    # below then makes literal: the series shows `t\\udcff` and every scrape still renders.
    if not value.isascii():
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labelstr(names: Sequence[str], values: Sequence[str], le: str | None = None) -> str:
    pairs = list(zip(names, values, strict=True))
    if le is not None:
        pairs.append(("le", le))
    # Sorted by label name, as prometheus_client 0.26 writes them.
    parts = [f'{n}="{_escape(v)}"' for n, v in sorted(pairs)]
    return "{" + ",".join(parts) + "}" if parts else ""


class _Family:
    """A metric family: children by label values, one header, render and collect."""

    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()  # guards adding to `_children` (see the module doc)
        help_text = documentation.replace("\\", r"\\").replace("\n", r"\n")
        self._header = f"# HELP {name} {help_text}\n# TYPE {name} {self.kind}\n"
        self._only: Any = None if self.labelnames else self.labels()

    def labels(self, *values: str, **kw: str):
        """The child for these label values (created on first use)."""
        if kw:
            values = tuple(kw[n] for n in self.labelnames)
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
            values = tuple(str(v) for v in values)
            with self._lock:  # another thread may have added it meanwhile: keep the first
                child = self._children.get(values)
                if child is None:
                    child = self._children[values] = self._child(values)
        return child

    def series(self) -> list[tuple[tuple[str, ...], Any]]:
        """A copy of (label values, series), safe to iterate while any thread adds series."""
        with self._lock:
            return list(self._children.items())

    def _child(self, values: tuple[str, ...]):
        raise NotImplementedError

    def render(self, out: list[str]) -> None:
        """Append this family's exposition text (0.0.4 format) to `out`."""
        out.append(self._header)
        for _, child in self.series():
            child.render(out)

    def describe(self) -> list[Metric]:
        """The family without samples: its name, help and labels (from the catalogue spec
        it was built from)."""
        return [self._metric()]

    def _metric(self) -> Metric:
        """An empty prometheus_client family of this one's name, help and labels."""
        raise NotImplementedError

    def collect(self) -> Iterable[Metric]:
        raise NotImplementedError


class _Value:
    __slots__ = ("value", "fn", "line")

    def __init__(self, line: str) -> None:
        self.value = 0.0
        self.fn: Callable[[], float] | None = None
        self.line = line

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)

    def set_function(self, fn: Callable[[], float]) -> None:
        self.fn = fn

    def get(self) -> float:
        return float(self.fn()) if self.fn is not None else self.value

    def render(self, out: list[str]) -> None:
        out.append(f"{self.line}{floatToGoString(self.get())}\n")


class FastCounter(_Family):
    """A counter; `name` is the exposed name, ending in `_total`."""

    kind = "counter"

    def _child(self, values):
        return _Value(f"{self.name}{_labelstr(self.labelnames, values)} ")

    def inc(self, amount: float = 1.0) -> None:
        self._only.inc(amount)

    def _metric(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self):
        fam = self._metric()
        for values, child in self.series():
            fam.add_metric(values, child.get())
        yield fam


class FastGauge(_Family):
    """A gauge."""

    kind = "gauge"

    def _child(self, values):
        return _Value(f"{self.name}{_labelstr(self.labelnames, values)} ")

    def inc(self, amount: float = 1.0) -> None:
        self._only.inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self._only.dec(amount)

    def set(self, value: float) -> None:
        self._only.set(value)

    def set_function(self, fn: Callable[[], float]) -> None:
        self._only.set_function(fn)

    def _metric(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self):
        fam = self._metric()
        for values, child in self.series():
            fam.add_metric(values, child.get())
        yield fam


class _Buckets:
    __slots__ = ("bounds", "counts", "sum", "template", "text")

    def __init__(self, name: str, names, values, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        les = [floatToGoString(b) for b in bounds] + ["+Inf"]
        # The whole series as one %-format string: a scrape is one C-level format call per
        # series rather than one f-string per line (measured 35% faster than str.format).
        lines = [f"{name}_bucket{_labelstr(names, values, le)} " for le in les]
        labels = _labelstr(names, values)
        lines += [f"{name}_count{labels} ", f"{name}_sum{labels} "]
        lines = [line.replace("%", "%%") for line in lines]
        self.template = "".join(line + "%d.0\n" for line in lines[:-1]) + lines[-1] + "%s\n"
        # The last rendering, kept until the next observation: series that did not change
        # since the previous scrape cost nothing to render again.
        self.text: str | None = None

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs in that bucket (`le`).
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.text = None

    def cumulative(self) -> list[int]:
        return list(accumulate(self.counts))

    def render(self, out: list[str]) -> None:
        if self.text is None:
            cum = self.cumulative()
            self.text = self.template % (*cum, cum[-1], floatToGoString(self.sum))
        out.append(self.text)


class FastHistogram(_Family):
    """A histogram with fixed bucket upper bounds."""

    kind = "histogram"

    def __init__(self, name, documentation, labelnames=(), buckets: Sequence[float] = ()) -> None:
        self.bounds = tuple(float(b) for b in buckets if b != float("inf"))
        super().__init__(name, documentation, labelnames)

    def _child(self, values):
        return _Buckets(self.name, self.labelnames, values, self.bounds)

    def observe(self, value: float) -> None:
        self._only.observe(value)

    def _metric(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self):
        fam = self._metric()
        les = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for values, child in self.series():
            buckets = list(zip(les, child.cumulative(), strict=True))
            fam.add_metric(list(values), buckets, child.sum)
        yield fam


class AgentRegistry(CollectorRegistry):
    """A prometheus_client registry that also holds fast families and renders them quickly.

    Everything else (process metrics, the collectors' custom collectors) registers as usual
    and is rendered by prometheus_client.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fast: dict[str, _Family] = {}

    def add_fast(self, family: _Family) -> _Family:
        """Hold a fast family (its name must be new)."""
        if family.name in self._fast:
            raise ValueError(f"duplicate metric {family.name}")
        self._fast[family.name] = family
        return family

    def collect(self) -> Iterable[Metric]:
        for family in self._fast.values():
            yield from family.collect()
        yield from super().collect()

    def render(self) -> bytes:
        """The whole exposition page (text format 0.0.4)."""
        out: list[str] = []
        for family in self._fast.values():
            family.render(out)
        # backslashreplace: a safety net for text that did not pass through `_escape`
        # (help texts); a scrape must never fail on one unencodable character.
        return "".join(out).encode("utf-8", "backslashreplace") + _render_slow(self)


def _render_slow(registry: AgentRegistry) -> bytes:
    """prometheus_client's rendering of the other collectors. It encodes strictly, so a
    label value it cannot encode (e.g. from a scraped upstream page) is cleaned and the
    page rendered again; the common case costs nothing extra."""
    try:
        return generate_latest(_Slow(registry))
    except UnicodeEncodeError:
        return generate_latest(_Cleaned(_Slow(registry)))


class _Slow:
    """A view of an AgentRegistry without its fast families, for prometheus_client to render."""

    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return CollectorRegistry.collect(self._registry)


def _clean(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Cleaned:
    """A view of a registry whose metric texts and label values all encode as UTF-8."""

    def __init__(self, source) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        for metric in self._source.collect():
            metric.documentation = _clean(metric.documentation)
            metric.samples = [
                s._replace(labels={k: _clean(v) for k, v in s.labels.items()})
                for s in metric.samples
            ]
            yield metric
