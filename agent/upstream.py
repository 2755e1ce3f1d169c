"""The connection pool to the upstream vLLM server, and what the agent knows of its health."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from agent.config import UpstreamConfig

log = logging.getLogger("inferwatch.upstream")


@dataclass(slots=True)
class UpstreamState:
    """The upstream as last seen: by a probe or by a request."""

    up: bool | None = None  # None: not yet known
    last_error: str | None = None
    checked_at: float | None = None  # wall clock, for humans
    # Set by the bundled-vLLM supervisor while it (re)starts the server.
    starting: bool = False


class Upstream:
    """Owns the aiohttp client session to the upstream and its health state."""

    def __init__(
        self,
        config: UpstreamConfig,
        url: str,
        on_state_change: Callable[[bool], object] | None = None,
    ) -> None:
        """`on_state_change(up)` is called when the upstream goes up or down."""
        self.config = config
        # Credentials in the URL become the agent's own Authorization header: aiohttp
        # refuses a URL with credentials beside an Authorization header (a 500 for every
        # client that sent one), and the URL is shown and logged without them.
        parsed = URL(url.rstrip("/"))
        self.url = str(parsed.with_user(None))
        self.authorization: str | None = None
        if parsed.user is not None:
            self.authorization = aiohttp.encode_basic_auth(parsed.user, parsed.password or "")
        if config.api_key is not None:
            self.authorization = "Bearer " + config.api_key.get_secret_value()
        self.state = UpstreamState()
        self._session: aiohttp.ClientSession | None = None
        self._probe_lock = asyncio.Lock()
        self._on_state_change = on_state_change

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled client session (created on first use, inside the event loop)."""
        if self._session is None:
            t = self.config.timeouts
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.config.max_connections,
                    ttl_dns_cache=300,
                    keepalive_timeout=self.config.keepalive_s,
                ),
                # Only connect is bounded here; first-byte and idle limits are applied by the
                # proxy around each phase, because a stream legitimately runs for minutes.
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=t.connect_s, connect=t.connect_s
                ),
                auto_decompress=True,
                # aiohttp's defaults, named: an upstream sending more or longer headers gets
                # a 502, and its connection is not reused.
                max_line_size=8190,
                max_field_size=8190,
                max_headers=128,
            )
        return self._session

    def mark(self, up: bool, error: str | None = None) -> None:
        """Record what a request or probe learned about the upstream."""
        changed = up != self.state.up
        if changed and up:
            log.info("upstream up", extra={"upstream": self.url})
        elif changed and not self.state.starting:
            # While the bundled vLLM (re)starts, "down" is expected: the supervisor logs that.
            log.warning("upstream down", extra={"upstream": self.url, "error": error})
        self.state.up = up
        self.state.last_error = None if up else error
        self.state.checked_at = time.time()
        if changed and self._on_state_change is not None:
            self._on_state_change(up)

    async def probe(self, timeout_s: float = 1.0) -> bool:
        """GET the upstream's health path once; updates and returns the state."""
        async with self._probe_lock:
            try:
                headers = {"Authorization": self.authorization} if self.authorization else None
                async with self.session.get(
                    self.url + self.config.health_path,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as resp:
                    await resp.read()
                    ok = resp.status < 500
                    self.mark(ok, None if ok else f"health returned HTTP {resp.status}")
            except (TimeoutError, aiohttp.ClientError, OSError) as err:
                self.mark(False, f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
            return bool(self.state.up)

    async def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
