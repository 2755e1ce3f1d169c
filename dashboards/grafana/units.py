"""Grafana units for the catalogue's units where a panel shows a family as it is."""

from __future__ import annotations

from agent.cost.prices import DEFAULT_CURRENCY

# Grafana's built-in currency units; any other ISO code becomes a custom `currency:` unit.
_BUILTIN = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "CNY", "INR", "SEK", "NOK"}


def money(currency: str = DEFAULT_CURRENCY) -> str:
    """The unit of an amount in `currency` (the agent's `cost.currency`)."""
    code = currency.upper()
    return f"currency{code}" if code in _BUILTIN else f"currency:{code}"
