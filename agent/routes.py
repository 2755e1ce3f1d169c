"""Which requests the agent measures, which it forwards as they are, and which it refuses.

Routing is on the canonical path (`agent.edge.canonical_path`), so no spelling of a path
reaches vLLM's generative or control routes around the safety filters and the meters.
Forwarding is an allow-list: a vLLM route the agent does not know could generate
(unmeasured, unfiltered, uncosted) or change the server's state (`/sleep`,
`/collective_rpc`, `/v1/load_lora_adapter`, ...), so it is refused unless an operator
opens it with `routes.passthrough`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.record import OP_CHAT, OP_COMPLETION, OP_EMBEDDINGS, OP_OTHER

# Measured, filtered and costed: the operations the proxy understands.
MEASURED = {
    "/v1/chat/completions": OP_CHAT,
    "/v1/completions": OP_COMPLETION,
    "/v1/embeddings": OP_EMBEDDINGS,
}
# Read-only routes of vLLM that neither generate nor change state.
DEFAULT_PASSTHROUGH = (
    "GET /v1/models",
    "GET /version",
    "GET /health",
    "GET /ping",
    "POST /tokenize",
    "POST /detokenize",
)
# vLLM routes that generate or compute on the model but are not measured yet: named in the
# refusal so the client learns why, not only that.
UNMEASURED = (
    "/v1/responses*",
    "/v1/messages*",
    "/invocations",
    "/pooling",
    "/classify",
    "/score",
    "/v1/score",
    "/rerank",
    "/v1/rerank",
    "/v2/rerank",
    "/v1/completions/render",
    "/v1/chat/completions/render",
    "/v1/audio/*",
)

MEASURE, FORWARD, REFUSE = "measure", "forward", "refuse"


class RoutesConfig(BaseModel):
    """What the agent forwards besides the measured endpoints."""

    model_config = ConfigDict(extra="forbid")

    passthrough: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PASSTHROUGH),
        description="Allow-list of other upstream routes forwarded unmeasured, as `METHOD "
        "/path` (shell-style `*` allowed; GET also allows HEAD). Anything else is refused "
        "with 404, vLLM's control routes (/sleep, /collective_rpc, /v1/load_lora_adapter, "
        "...) included: add them here to open them.",
    )

    @field_validator("passthrough")
    @classmethod
    def _method_path(cls, v: list[str]) -> list[str]:
        for rule in v:
            method, _, path = rule.partition(" ")
            if not method.isalpha() or not path.startswith("/"):
                raise ValueError(f"expected 'METHOD /path', got {rule!r}")
        return [f"{r.partition(' ')[0].upper()} {r.partition(' ')[2].strip()}" for r in v]


@dataclass(frozen=True, slots=True)
class Route:
    """Where one request goes: `kind` is MEASURE, FORWARD or REFUSE."""

    kind: str
    operation: str = OP_OTHER
    status: int = 200  # for REFUSE: 404, or 405 for a measured path with another method
    reason: str = ""


class Router:
    """Classifies (method, canonical path) once per request."""

    def __init__(self, config: RoutesConfig) -> None:
        self._allow = [tuple(rule.split(" ", 1)) for rule in config.passthrough]

    def route(self, method: str, path: str) -> Route:
        """The route of a request; `path` must be canonical."""
        op = MEASURED.get(path)
        if op is not None:
            if method == "POST":
                return Route(MEASURE, op)
            return Route(REFUSE, op, 405, f"{path} takes POST only")
        if self._allowed(method, path):
            return Route(FORWARD)
        if any(fnmatchcase(path, p) for p in UNMEASURED):
            why = f"{path} is not supported by inferwatch yet (its requests could not be measured)"
        else:
            why = f"{method} {path} is not forwarded (allow it with routes.passthrough)"
        return Route(REFUSE, OP_OTHER, 404, why)

    def _allowed(self, method: str, path: str) -> bool:
        return any(
            (method == m or (method == "HEAD" and m == "GET")) and fnmatchcase(path, pattern)
            for m, pattern in self._allow
        )
