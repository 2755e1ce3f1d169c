"""Per-tenant daily budgets: spend per UTC day, and an event when a tenant crosses its budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("inferwatch.cost")


@dataclass(frozen=True, slots=True)
class BudgetExceeded:
    """A tenant's spend crossed its daily budget (sent once per tenant per UTC day)."""

    tenant: str
    day: str  # YYYY-MM-DD, UTC
    spent: float
    budget: float
    currency: str


class Budgets:
    """Tracks today's spend of each tenant that has a budget; calls subscribers on a crossing.

    `subscribe(callback)` is the hook for the alerts engine: `callback(BudgetExceeded)`.
    """

    def __init__(
        self, budgets: dict[str, float], currency: str, wall: Callable[[], float] = time.time
    ) -> None:
        self._budgets, self._currency, self._wall = dict(budgets), currency, wall
        self._day = self._today()
        self.spent: dict[str, float] = {}
        self._crossed: set[str] = set()
        self._callbacks: list[Callable[[BudgetExceeded], object]] = []

    def subscribe(self, callback: Callable[[BudgetExceeded], object]) -> None:
        """Call `callback(event)` whenever a tenant crosses its daily budget."""
        self._callbacks.append(callback)

    def _today(self) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(self._wall()))

    def add(self, tenant: str, amount: float) -> BudgetExceeded | None:
        """Add spend; returns the event when this spend crossed the tenant's budget."""
        budget = self._budgets.get(tenant)
        if budget is None:
            return None
        day = self._today()
        if day != self._day:  # a new UTC day starts from zero
            self._day, self.spent, self._crossed = day, {}, set()
        spent = self.spent[tenant] = self.spent.get(tenant, 0.0) + amount
        if spent < budget or tenant in self._crossed:
            return None
        self._crossed.add(tenant)
        event = BudgetExceeded(tenant, day, spent, budget, self._currency)
        for cb in self._callbacks:
            try:
                cb(event)
            except Exception:
                log.exception("budget subscriber %r failed", cb)
        return event

    def ratio(self, tenant: str) -> float:
        """Today's spend over the budget of `tenant`."""
        return self.spent.get(tenant, 0.0) / self._budgets[tenant]

    def state(self) -> dict:
        """Plain data to carry today's spend across a restart."""
        return {"day": self._day, "spent": dict(self.spent), "crossed": sorted(self._crossed)}

    def restore(self, state: dict) -> None:
        """Take over today's spend from `state` (ignored if it is from another day)."""
        if state.get("day") == self._today():
            self.spent = dict(state["spent"])
            self._crossed = set(state["crossed"])
