"""`RequestRecord`: the one currency of the data path.

The proxy produces exactly one record per request; everything downstream (metrics,
cost, store, shippers, drift windows, alerts, spans) consumes records and never
reaches back into the proxy. Records are frozen: a stage that adds information
(for example the cost engine) makes a new record with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Values of `RequestRecord.status`.
STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_CANCELLED = "cancelled"

# Values of `RequestRecord.operation` (OpenTelemetry `gen_ai.operation.name`).
OP_CHAT = "chat"
OP_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_OTHER = "other"

# Values of `RequestRecord.cost_status` (None: no cost engine ran).
COST_FINAL = "final"  # every moment of the request was metered: `cost_amount` is its cost
# Some of it no meter covered (vLLM's processes not found, a collector failing, NVML gone):
# `cost_amount` is the metered part only, a lower bound (0.0 when nothing was metered).
COST_UNMETERED = "unmetered"


@dataclass(frozen=True, slots=True)
class SafetyVerdict:
    """One safety-filter hit on a request (filled in by the safety filters)."""

    filter: str  # e.g. "pii.email", "secret.aws_key", "injection"
    direction: str  # "input" | "output"
    action: str  # "flag" | "redact" | "block"
    count: int = 1


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Everything measured about one request that passed through the agent.

    Timestamps ending in `_ns` are `time.monotonic_ns()` of the agent process and
    only comparable with each other; `wall_time` (epoch seconds at start) is used
    for `@timestamp` and nothing else.
    """

    request_id: str  # made by the agent, unique: the store's key and Elasticsearch's `_id`
    trace_id: str  # 32 hex chars, W3C trace id
    span_id: str  # 16 hex chars, the agent's span for this request
    tenant: str
    model: str  # model asked for ("" when the request named none)
    operation: str  # OP_* above
    path: str
    stream: bool
    wall_time: float
    start_ns: int
    end_ns: int
    first_token_ns: int | None = None
    response_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    status: str = STATUS_OK
    http_status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    parent_span_id: str | None = None  # from the client's `traceparent`, if any
    overhead_ns: int = 0  # time spent in the agent itself, excluding upstream waits
    safety: tuple[SafetyVerdict, ...] = ()
    # Cost fields, written by the cost engine before the record leaves the agent.
    cost_currency: str | None = None
    cost_amount: float | None = None
    cost_device_seconds: float | None = None
    cost_joules: float | None = None
    cost_status: str | None = None  # COST_* above
    # Prompt / completion text: only with capture switched on, and always redacted.
    prompt_text: str | None = None
    completion_text: str | None = None
    # Text descriptors (`prompt_<name>`/`completion_<name>`: length, words, character
    # classes...) for drift detection, computed off the request path when capture is off.
    text_stats: dict[str, float] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # The client's own `x-request-id`, cleaned at the edge; kept for correlation only, never
    # a key (a client that chooses ids must not be able to overwrite or hide a document).
    client_request_id: str | None = None
    # Several upstreams (agent/routing): the experiment the request was part of, and the
    # upstream that answered it (its `variant`); a shadow copy names the request it copied.
    experiment: str | None = None
    variant: str | None = None
    shadow_of: str | None = None

    @property
    def duration_s(self) -> float:
        """End-to-end time as seen by the agent, in seconds."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def ttft_s(self) -> float | None:
        """Time to first token in seconds, or None when no token was produced."""
        if self.first_token_ns is None:
            return None
        return (self.first_token_ns - self.start_ns) / 1e9

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first (OTel `time_per_output_token`), for
        streams only: a non-streamed answer arrives whole, so the agent sees no token times
        (its `first_token_ns` is the end of the response)."""
        if not self.stream or self.first_token_ns is None:
            return None
        if not self.completion_tokens or self.completion_tokens < 2:
            return None
        return (self.end_ns - self.first_token_ns) / 1e9 / (self.completion_tokens - 1)

    def approx_bytes(self) -> int:
        """Roughly the memory the record holds: fixed fields plus its variable text. For
        byte bounds on queues; cheap (a few len() calls), not exact."""
        n = 800 + len(self.model) + len(self.path) + len(self.tenant)
        for text in (self.error_message, self.prompt_text, self.completion_text):
            if text:
                n += len(text)
        for k, v in self.extra.items():
            n += len(k) + len(str(v))
        n += 40 * len(self.text_stats or ())
        return n + 100 * len(self.safety)

    def without_text(self) -> RequestRecord:
        """This record with no text a user wrote or an upstream echoed (prompt,
        completion, error message): what goes on when redacting it failed."""
        return dataclasses.replace(self, prompt_text=None, completion_text=None, error_message=None)

    def to_dict(self) -> dict:
        """A plain dict of all fields (safety verdicts as dicts), for stores and shippers."""
        return dataclasses.asdict(self)


_FIELDS = frozenset(f.name for f in dataclasses.fields(RequestRecord))
_DEFAULTS = {
    f.name: f.default
    for f in dataclasses.fields(RequestRecord)
    if f.default is not dataclasses.MISSING
}


class RecordBuilder:
    """A record under construction: facts are `set` as they arrive while a request is
    served, and `build` freezes them once. The fields are `RequestRecord`'s own (not a
    second list of them)."""

    __slots__ = ("_fields",)

    def __init__(self, **fields: object) -> None:
        self._fields: dict[str, object] = {}
        self.set(**fields)

    def set(self, **fields: object) -> None:
        """Set fields (a later value replaces an earlier one). A name the record does not
        have is refused by `build` (checked once there: this is the request path)."""
        self._fields.update(fields)

    def get(self, name: str) -> Any:
        """A field's value so far (its default when not set)."""
        try:
            return self._fields[name]
        except KeyError:
            return _DEFAULTS.get(name)

    def build(self, **last: object) -> RequestRecord:
        """The frozen record, with `last` (e.g. `end_ns`) set too; TypeError naming any
        field `RequestRecord` does not have."""
        self._fields.update(last)
        unknown = self._fields.keys() - _FIELDS
        if unknown:
            raise TypeError(f"RequestRecord has no field {sorted(unknown)}")
        return RequestRecord(**self._fields)  # type: ignore[arg-type]  # names checked above
