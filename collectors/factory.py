"""The table of collector factories, as node_exporter's `registerCollector(name,
default_enabled, factory)`: each collector's own module registers itself here, so a new
collector is one file (plus its entries in agent/catalogue.yaml, `source: collectors.<name>`)
and its enable switch (`collectors.enabled.<name>`, `--collector.<name>`) comes with it.

Registering is the one thing a collector module does when imported. Which modules are
imported, and so which collectors exist, is listed in one place: `collectors/wiring.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from collectors.base import Collector
from collectors.config import CollectorsConfig
from collectors.process_tree import VllmProcessFinder


@dataclass(frozen=True, slots=True)
class CollectorContext:
    """What a factory may build its collector from: the `collectors:` settings, the vLLM
    process tree to meter, and the upstream's URL (None when unknown)."""

    config: CollectorsConfig
    vllm: VllmProcessFinder
    upstream_url: str | None = None


# A factory may answer None when the context gives its collector nothing to read.
Factory = Callable[[CollectorContext], Collector | None]


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered collector: its name, whether it runs unless switched off, its
    factory, and a short description for its command-line switch."""

    name: str
    default_enabled: bool
    factory: Factory
    description: str


class CollectorTable:
    """Registered collectors by name. The agent uses the one module-level table, `COLLECTORS`
    (self-registration needs one place every module can reach); tests build their own."""

    def __init__(self) -> None:
        self._by_name: dict[str, Registration] = {}

    def register(
        self, name: str, default_enabled: bool, description: str
    ) -> Callable[[Factory], Factory]:
        """Decorator for a collector's factory: `@register_collector("host", True, "...")`.
        A name claimed by two different factories is an error (a module reloaded
        re-registers its own factory, which is not)."""

        def put(factory: Factory) -> Factory:
            known = self._by_name.get(name)
            if known is not None and _where(known.factory) != _where(factory):
                raise ValueError(f"collector {name!r} registered twice: {_where(known.factory)}")
            self._by_name[name] = Registration(name, default_enabled, factory, description)
            return factory

        return put

    def registered(self) -> Mapping[str, Registration]:
        """The registered collectors by name, sorted by name (a stable order for the runner
        and the exposition page, whatever order the modules were imported in)."""
        return MappingProxyType(dict(sorted(self._by_name.items())))


def _where(factory: Factory) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


COLLECTORS = CollectorTable()
register_collector = COLLECTORS.register
