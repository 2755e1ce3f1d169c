"""Configuration of the Streamlit dashboard (section `dashboard`).

The dashboard reads what the agent's config already says (where the store is, the
Elasticsearch connection, budgets, hosted-API prices); this section holds only what is
the dashboard's own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class DashboardConfig(BaseModel):
    """`inferwatch dashboard`: where it listens and what it reads."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["store", "elasticsearch"] = Field(
        "store",
        description="Read the embedded store of one agent (`store.dir`), or a fleet's request "
        "logs in Elasticsearch (the `elasticsearch` section's connection).",
    )
    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8501, ge=1, le=65535, description="Port the dashboard listens on.")
    prometheus_url: HttpUrl | None = Field(
        None,
        description="Prometheus that scrapes the agents: the GPUs and vLLM page reads its "
        "series from there (else from the snapshots in the store).",
    )
    refresh_s: int = Field(
        0, ge=0, description="Default auto-refresh of every page, in seconds (0: off)."
    )
    table_rows: int = Field(
        500, ge=10, le=10_000, description="Most rows a table of single requests shows."
    )
    idle_priority: bool = Field(
        True,
        description="Run the dashboard in Linux's SCHED_IDLE class: on the agent's machine "
        "it then uses only CPU the agent leaves free (rendering flat out at normal priority "
        "moved the proxy's p99 30x on 2 cores, bench/results/dashboard_pages.md); pages "
        "draw slower while the machine is busy.",
    )
    cache_s: float = Field(
        10.0,
        ge=0,
        description="How long a query's answer is reused by panels and reruns (seconds).",
    )
