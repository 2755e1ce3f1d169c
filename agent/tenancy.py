"""Who is asking: tenant from the bearer key (via the configured map), else a header, else default.

The API key itself is only ever compared, never stored in a record or logged.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.config import TenantsConfig


class TenantResolver:
    """Resolves a request's tenant from its headers."""

    def __init__(self, config: TenantsConfig) -> None:
        self._by_key = {key.get_secret_value(): tenant for tenant, key in config.api_keys.items()}
        self._header = config.header
        self._default = config.default

    def resolve(self, headers: Mapping[str, str]) -> str:
        """The tenant name for a request with these headers."""
        if self._by_key:
            auth = headers.get("Authorization", "")
            if auth[:7].lower() == "bearer ":
                tenant = self._by_key.get(auth[7:].strip())
                if tenant is not None:
                    return tenant
        tenant = headers.get(self._header)
        if tenant:
            # Header values are client-controlled: keep them short and printable.
            return tenant.strip()[:64] or self._default
        return self._default
