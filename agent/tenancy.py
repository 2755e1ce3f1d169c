"""Who is asking: the tenant from the bearer key when keys are configured, else a header.

With `tenants.api_keys` set, the key decides: a client that names a tenant in the header
but holds no key of it is not that tenant (it would be billed to, and hide among, someone
else's requests). The header is trusted only where no keys are configured. The API key
itself is only ever compared, never stored in a record or logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from agent.config import TenantsConfig
from agent.edge import MAX_TENANT_CHARS, EdgeError, clean_text

UNAUTHORIZED = "unauthorized"


class TenantResolver:
    """Resolves a request's tenant from its headers; raises `EdgeError` to refuse it."""

    def __init__(self, config: TenantsConfig) -> None:
        self._keys = [(k.get_secret_value().encode(), t) for t, k in config.api_keys.items()]
        self._header = config.header
        self._default = config.default
        self._require = config.require_key

    def resolve(self, headers: Mapping[str, str]) -> str:
        """The tenant name for a request with these headers."""
        if self._keys:
            return self._by_key(headers.get("Authorization", ""))
        value = headers.get(self._header)
        if value is None:
            return self._default
        return clean_text(self._header, value, MAX_TENANT_CHARS) or self._default

    def _by_key(self, auth: str) -> str:
        presented = auth[7:].strip().encode("utf-8", "surrogateescape")
        found = None
        if auth[:7].lower() == "bearer ":
            # Every key is compared in constant time, so timing tells nothing of any key.
            for key, tenant in self._keys:
                if hmac.compare_digest(key, presented):
                    found = tenant
        if found is not None:
            return found
        if self._require:
            raise EdgeError(
                401, UNAUTHORIZED, "a valid API key is required (Authorization: Bearer)"
            )
        return self._default


def known_tenants(config: TenantsConfig) -> frozenset[str]:
    """Tenants named in the configuration: their metric labels are never `other`."""
    return frozenset([*config.api_keys, *config.known, config.default])
