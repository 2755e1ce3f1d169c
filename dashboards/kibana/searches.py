"""The saved searches: what each one filters, shows and sorts by, defined once (the NDJSON
objects and the query DSL files are both rendered from these)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboards.kibana.fields import TIME_FIELD, require_mapped
from dashboards.kibana.query import Above, Clause, Exists, Term, dsl, kql

# The tenant the "one tenant" search shows until the user edits its query.
TENANT_PLACEHOLDER = "example-tenant"

MODEL, TENANT, HTTP_STATUS = "gen_ai.request.model", "user.id", "http.response.status_code"
LATENCY, REQUEST_ID, COST = (
    "gen_ai.server.request.duration",
    "http.request.id",
    "inferwatch.cost.amount",
)
TOKENS = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"]


@dataclass(frozen=True)
class SavedSearch:
    """One saved search: `name` names its query file, `id` is its stable saved-object id."""

    name: str
    title: str
    description: str
    where: tuple[Clause, ...]
    columns: tuple[str, ...]
    sort: tuple[tuple[str, str], ...] = ((TIME_FIELD, "desc"),)

    def __post_init__(self) -> None:
        fields = [*self.columns, *(f for f, _ in self.sort), *(c.field for c in self.where)]
        require_mapped(fields, f"saved search {self.name!r}")
        if any(order not in ("asc", "desc") for _, order in self.sort):
            raise ValueError(f"saved search {self.name!r}: sort order is asc or desc")

    @property
    def id(self) -> str:
        return f"inferwatch-{self.name}"

    def kql(self) -> str:
        """The query as KQL (what Discover shows in its query bar)."""
        return kql(list(self.where))

    def dsl(self) -> dict:
        """The same filter and order as an Elasticsearch search body."""
        sort = [{field: {"order": order}} for field, order in self.sort]
        return {"query": dsl(list(self.where)), "sort": sort}


SEARCHES = (
    SavedSearch(
        name="errors",
        title="inferwatch: failed requests",
        description="Requests that failed (event.outcome: failure): error answers and "
        "timeouts of the upstream, broken streams, and requests the agent refused (safety "
        "blocks included). Newest first.",
        where=(Term("event.outcome", "failure"),),
        columns=(MODEL, TENANT, HTTP_STATUS, "error.type", "error.message", LATENCY, REQUEST_ID),
    ),
    SavedSearch(
        name="safety-hits",
        title="inferwatch: safety filter hits",
        description="Requests where a safety filter (PII, secrets, prompt injection, "
        "blocklist) found something, whatever its action (flag, redact, block). Newest first.",
        where=(Above("inferwatch.safety.hits", 0),),
        columns=(
            MODEL,
            TENANT,
            "inferwatch.safety.filters",
            "inferwatch.safety.directions",
            "inferwatch.safety.actions",
            "inferwatch.safety.blocked",
            "inferwatch.safety.hits",
            HTTP_STATUS,
            REQUEST_ID,
        ),
    ),
    SavedSearch(
        name="most-expensive",
        title="inferwatch: most expensive requests",
        description="Requests with a cost, most expensive first (cost from measured device "
        "time and energy). cost status 'unmetered': the cost is a lower bound.",
        where=(Exists(COST),),
        columns=(
            COST,
            "inferwatch.cost.currency",
            MODEL,
            TENANT,
            *TOKENS,
            LATENCY,
            "inferwatch.cost.device_seconds",
            "inferwatch.cost.joules",
            "inferwatch.cost.status",
            REQUEST_ID,
        ),
        sort=((COST, "desc"), (TIME_FIELD, "desc")),
    ),
    SavedSearch(
        name="tenant",
        title="inferwatch: one tenant's requests",
        description=f"Every request of one tenant. '{TENANT_PLACEHOLDER}' is a placeholder: "
        "edit the query (user.id) to your tenant's name and save. Newest first.",
        where=(Term(TENANT, TENANT_PLACEHOLDER),),
        columns=(
            MODEL,
            "event.outcome",
            HTTP_STATUS,
            LATENCY,
            "gen_ai.server.time_to_first_token",
            *TOKENS,
            COST,
            "inferwatch.safety.hits",
            REQUEST_ID,
        ),
    ),
)
