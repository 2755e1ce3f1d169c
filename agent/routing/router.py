"""Which upstream serves a request, and whether a shadow copy goes elsewhere.

Each request gets a point in [0, 100): from a hash of its sticky key (the tenant, or a
header such as a session id), so one user always lands at the same point, or at random.
The upstreams own consecutive ranges of [0, 100) by weight, in config order; the point
picks the range. A canary's variant takes the first part of its control's range, sized by
the current step: as the canary grows, users only ever move from the control to the
variant (never back and forth), and a rollback moves them all back at once.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.routing.config import CANARY, SHADOW, ExperimentConfig, UpstreamSpec
from agent.upstream import Upstream


@dataclass(frozen=True, slots=True)
class Choice:
    """Where one request goes. `name` is the upstream's name (None with a single, unnamed
    upstream); `experiment` is set when the request belongs to one; `shadow`, when set, is
    the upstream that gets a copy (`shadow_name` its name)."""

    upstream: Upstream
    name: str | None = None
    experiment: str | None = None
    shadow: Upstream | None = None
    shadow_name: str | None = None


class Router:
    """Picks the upstream of each request (`pick`); a canary moves its variant's share
    with `set_variant_share`."""

    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        specs: list[UpstreamSpec],
        experiment: ExperimentConfig | None = None,
        rand: Callable[[], float] = random.random,
        metered: frozenset[str] | None = None,
    ) -> None:
        """`upstreams` by name, as `specs` names them (one unnamed upstream: `specs` is
        empty and the mapping holds it alone); `rand` draws the points of requests
        without a sticky key (tests pass a seeded one)."""
        self._ups = dict(upstreams)
        self._specs = specs
        self.experiment = experiment
        self._rand = rand
        # Upstreams on metered hardware (by name); None: all of them (one upstream).
        self._metered = metered
        self._single = next(iter(self._ups.values())) if not specs else None
        self._salt = (experiment.name if experiment else "inferwatch").encode()
        # The variant's share of its control's range, in percent (canary: the step's).
        self.variant_share = 0.0
        self._ranges: list[tuple[float, str]] = []
        self._build()

    def set_variant_share(self, percent: float) -> None:
        """A canary's variant now gets `percent` of the traffic its control had (0: rolled
        back, all to the control)."""
        self.variant_share = min(100.0, max(0.0, percent))
        self._build()

    def shares(self) -> dict[str, float]:
        """The percent of all requests each upstream of the experiment gets now."""
        out: dict[str, float] = {}
        low = 0.0
        for top, name in self._ranges:
            out[name] = out.get(name, 0.0) + top - low
            low = top
        exp = self.experiment
        names = (exp.control, exp.variant) if exp is not None else tuple(out)
        return {n: round(out.get(n, 0.0), 6) for n in names}

    @property
    def default(self) -> Choice:
        """A request's upstream before it is routed (one refused at the edge has no other):
        the first, unnamed in its record."""
        return Choice(next(iter(self._ups.values())))

    def metered(self, name: str | None) -> bool:
        """Whether requests to the upstream `name` share the metered hardware's cost."""
        return self._metered is None or name in self._metered

    @property
    def authorizing(self) -> bool:
        """Whether any upstream gets the agent's own credentials (a client's are then never
        forwarded)."""
        return any(u.authorization is not None for u in self._ups.values())

    def _build(self) -> None:
        """The upper bound of each upstream's range, in order (a canary's pair split)."""
        exp, ranges, top = self.experiment, [], 0.0
        for spec in self._specs:
            if spec.weight <= 0:
                continue
            if exp is not None and exp.kind == CANARY and spec.name == exp.control:
                moved = spec.weight * self.variant_share / 100.0
                if moved > 0:
                    ranges.append((top + moved, exp.variant))
                top += spec.weight
                if moved < spec.weight:
                    ranges.append((top, spec.name))
                continue
            top += spec.weight
            ranges.append((top, spec.name))
        self._ranges = ranges

    def point(self, key: str | None) -> float:
        """The request's point in [0, 100): stable for one key, random without one."""
        if key is None:
            return self._rand() * 100.0
        digest = hashlib.blake2b(key.encode(), digest_size=8, key=self._salt[:64]).digest()
        return int.from_bytes(digest, "big") / 2.0**64 * 100.0

    def sticky_key(
        self, headers: Mapping[str, str], tenant: str, default_tenant: str
    ) -> str | None:
        """What keeps this request's user on one upstream (None: place it at random)."""
        exp = self.experiment
        if exp is None or exp.sticky == "none":
            return None
        if exp.header is not None:
            value = headers.get(exp.header)
            return value if value else None
        # Requests no tenant key identified all share the default tenant: one "user"
        # would take a whole arm, so they are placed at random instead.
        return None if tenant == default_tenant else tenant

    def pick(self, key: str | None) -> Choice:
        """The upstream for a request whose sticky key is `key` (see `sticky_key`)."""
        if self._single is not None:
            return Choice(self._single)
        at = self.point(key)
        name = self._ranges[-1][1]
        for top, candidate in self._ranges:
            if at < top:
                name = candidate
                break
        exp = self.experiment
        if exp is None or name not in (exp.control, exp.variant):
            return Choice(self._ups[name], name)
        if exp.kind == SHADOW and name == exp.control and self._rand() < exp.shadow.fraction:
            return Choice(self._ups[name], name, exp.name, self._ups[exp.variant], exp.variant)
        return Choice(self._ups[name], name, exp.name)
