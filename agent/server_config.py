"""Config of the agent's HTTP server edge: the admin listener and the connection limits.

Kept apart from agent/config.py (which includes them) so the server's keys live beside
the code that reads them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def split_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[V6]:PORT`) as (host, port); ValueError when it is not one."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:9100)")
    return host.removeprefix("[").removesuffix("]"), int(port)


class AdminConfig(_Section):
    """The admin listener: /metrics and /health on a port of their own."""

    listen: str | None = Field(
        None,
        description="HOST:PORT serving /metrics, /health and /health/live (port 0 picks a "
        "free one); the API port then answers 404 for them. Unset: they stay on the API port.",
    )
    bearer_token: SecretStr | None = Field(
        None,
        description="Token that /metrics and /health require as `Authorization: Bearer ...` "
        "(/health/live stays open for liveness probes). Needs `admin.listen`.",
    )
    bearer_token_file: Path | None = Field(
        None,
        description="File holding the bearer token (read once at start; trailing newline "
        "ignored), instead of `admin.bearer_token`.",
    )

    @field_validator("listen")
    @classmethod
    def _host_port(cls, v: str | None) -> str | None:
        if v is not None:
            split_host_port(v)
        return v

    @model_validator(mode="after")
    def _one_token(self) -> AdminConfig:
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("set bearer_token or bearer_token_file, not both")
        has_token = self.bearer_token is not None or self.bearer_token_file is not None
        if has_token and self.listen is None:
            # The API port's clients carry their own (tenant) bearer keys in Authorization.
            raise ValueError("a bearer token needs admin.listen (the admin port)")
        return self


class ServerLimits(_Section):
    """Limits on client connections (nginx's defaults where it has one)."""

    max_connections: int = Field(
        4096,
        ge=1,
        description="Open client connections per listener; past it a new connection gets "
        "503 and is closed at once (counted).",
    )
    max_inflight_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Request body bytes held by requests being served, all together; a "
        "request that would pass it gets 503 (counted). A chunked body counts as "
        "`max_body_bytes`.",
    )
    header_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A new connection's first request header must be complete within this "
        "(nginx client_header_timeout); else 408 and closed (counted).",
    )
    body_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Longest silence between two pieces of a request body (nginx "
        "client_body_timeout); else 408, so a stalled upload cannot hold its reserved "
        "bytes in flight.",
    )
    keepalive_timeout_s: float = Field(
        75.0,
        gt=0,
        description="An idle kept-alive connection, or one whose next request header is not "
        "complete, is closed this long after its last response (nginx keepalive_timeout).",
    )
    max_headers: int = Field(
        128, ge=8, description="Header lines a request may carry (400 past it)."
    )
    max_header_bytes: int = Field(
        8190, ge=256, description="Longest header line, and longest request line (400 past it)."
    )
