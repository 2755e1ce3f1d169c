"""The start-time check of receivers' URLs against `alerts.allowed_hosts`.

A webhook URL is an outbound request the agent makes with alert contents in it; where the
operator lists the hosts it may reach, a URL naming another host is a configuration
error, caught at start rather than at the first alert. Redirects are never followed (see
delivery.py), so a listed host cannot send the agent elsewhere either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the config validates itself with check_receivers: no import cycle
    from alerts.config import AlertsConfig


class ReceiverError(ValueError):
    """A receiver's configuration cannot be used; the message names the receiver."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(entry: str) -> tuple[str, int | None]:
    # Parsed as a URL's authority, so "[::1]:8080" and "Example.com" read as they should.
    parts = urlsplit("//" + entry.strip())
    return (parts.hostname or "").lower(), parts.port


def host_allowed(url: str, allowed: list[str]) -> bool:
    """True when `allowed` is empty or lists the URL's host, as `host` (any port) or
    `host:port`."""
    if not allowed:
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    entries = map(_host_port, allowed)
    return any(name == host and only in (None, port) for name, only in entries)


def check_receivers(config: AlertsConfig) -> None:
    """Raise ReceiverError for the first receiver whose host is not allowed, or whose name
    is used twice (metrics and routes identify receivers by name)."""
    seen: set[str] = set()
    for hook in config.webhooks:
        if hook.name in seen:
            raise ReceiverError(f"alerts.webhooks: receiver name {hook.name!r} used twice")
        seen.add(hook.name)
        if not host_allowed(hook.url, config.allowed_hosts):
            host = urlsplit(hook.url).hostname
            raise ReceiverError(
                f"alerts.webhooks: receiver {hook.name!r}: host {host!r} is not in "
                f"alerts.allowed_hosts {config.allowed_hosts}"
            )
