"""Build the upstreams and the router from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.config import Settings
from agent.routing.config import BUNDLED, ExperimentConfig
from agent.routing.router import Router
from agent.upstream import Upstream

log = logging.getLogger("inferwatch.routing")
DEFAULT = "default"  # the name of the one upstream when `upstreams` is not configured


@dataclass
class Upstreams:
    """Every upstream by name; `primary` is the one the collectors meter and the bundled
    vLLM's supervisor watches (the bundled one, else the first)."""

    by_name: dict[str, Upstream]
    primary: Upstream
    router: Router
    experiment: ExperimentConfig | None


def primary_url(settings: Settings, bundled_url: str | None) -> str:
    """The URL of the primary upstream: the bundled vLLM's, or the first configured."""
    for spec in settings.upstreams:
        if spec.url == BUNDLED:
            if bundled_url is None:
                raise ValueError(f"upstream {spec.name} is '{BUNDLED}' but no vLLM was started")
            return bundled_url
    if settings.upstreams:
        return settings.upstreams[0].url
    if settings.upstream.url is not None:
        return settings.upstream.url
    if bundled_url is None:
        raise ValueError("no upstream: set upstream.url or upstreams")
    return bundled_url


def needs_bundled(settings: Settings) -> bool:
    """Whether the agent must start the bundled vLLM for these settings."""
    if settings.upstreams:
        return any(u.url == BUNDLED for u in settings.upstreams)
    return settings.upstream.url is None


def bundled_names(settings: Settings) -> list[str]:
    """The upstreams the agent starts a vLLM for, in order (the first is the primary)."""
    return [u.name for u in settings.upstreams if u.url == BUNDLED]


def build_upstreams(
    settings: Settings, url: str, instruments: dict, bundled: dict[str, str] | None = None
) -> Upstreams:
    """The upstreams: `url` is the primary's (`upstream.url`, the bundled vLLM's, or the
    first bundled upstream's); `bundled` maps the other bundled upstreams to their URLs."""
    cfg, up_gauge = settings.upstream, instruments["inferwatch_upstream_up"]
    if not settings.upstreams:
        single = Upstream(cfg, url, lambda up: up_gauge.set(1 if up else 0))
        return Upstreams({DEFAULT: single}, single, Router({DEFAULT: single}, []), None)
    named = instruments["inferwatch_upstreams_up"]
    started = bundled_names(settings)
    first = started[0] if started else settings.upstreams[0].name
    by_name: dict[str, Upstream] = {}
    for spec in settings.upstreams:
        own = cfg.model_copy(update={"api_key": spec.api_key}) if spec.api_key else cfg
        if spec.api_key is None and cfg.api_key is not None and spec.name != first:
            log.warning(
                "upstream gets upstream.api_key (it has no api_key of its own)",
                extra={"upstream": spec.name},
            )
        # The primary's state is also the unlabelled `inferwatch_upstream_up`.
        also = up_gauge if spec.name == first else None
        at = _url_of(spec.name, spec.url, url if spec.name == first else None, bundled or {})
        by_name[spec.name] = Upstream(own, at, _on_state(named.labels(spec.name), also))
    primary = by_name[first]
    exp = settings.experiments[0] if settings.experiments else None
    metered = frozenset(
        s.name for s in settings.upstreams if s.metered or (s.metered is None and s.name == first)
    )
    router = Router(by_name, settings.upstreams, exp, metered=metered)
    return Upstreams(by_name, primary, router, exp)


def _url_of(name: str, url: str, primary: str | None, bundled: dict[str, str]) -> str:
    if url != BUNDLED:
        return url
    if name in bundled:
        return bundled[name]
    if primary is None:
        raise ValueError(f"upstream {name} is '{BUNDLED}' but no vLLM was started for it")
    return primary


def _on_state(gauge, also):
    def changed(up: bool) -> None:
        gauge.set(1 if up else 0)
        if also is not None:
            also.set(1 if up else 0)

    return changed
