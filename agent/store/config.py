"""The `store:` configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    # Unknown keys are errors, as in every section of `agent.config`.
    model_config = ConfigDict(extra="forbid")


class RetentionConfig(_Section):
    """How long and how much of the request log the store keeps."""

    max_age_days: float = Field(
        7.0, gt=0, description="Rows older than this (by wall time) are deleted."
    )
    max_size_mb: float = Field(
        1024.0, gt=0, description="Bytes used by the database above which the oldest rows go."
    )
    check_interval_s: float = Field(
        60.0, gt=0, description="How often the writer applies the retention rules."
    )


class StoreConfig(_Section):
    """The embedded SQLite request log (WAL mode; a dashboard may read it while the agent writes)."""

    enabled: bool = Field(True, description="Write every request record to the store.")
    dir: Path = Field(
        Path("./inferwatch-data"), description="Folder of the database (created if missing)."
    )
    filename: str = Field("requests.sqlite3", description="Database file name inside `dir`.")
    flush_interval_s: float = Field(
        0.05,
        gt=0,
        le=10,
        description="Longest time a record waits in memory before it is committed; a SIGKILL "
        "of the agent loses about this much (with `durability: batch`).",
    )
    durability: Literal["batch", "sync"] = Field(
        "batch",
        description="`batch`: commit every flush interval. `sync`: every batch is committed "
        "before the store acknowledges it, no interval (nothing acknowledged is lost to a "
        "crash of the agent). Records are handed to the store after their response is sent "
        "(the request path does no I/O), so a crash can still lose the last request or two "
        "answered in the millisecond before it.",
    )
    fsync: bool = Field(
        False,
        description="fsync every commit (SQLite synchronous=FULL) so commits also survive a "
        "power loss or OS crash; without it they survive a crash of the agent only.",
    )
    max_pending_records: int = Field(
        100_000,
        ge=1,
        description="Records held in memory while the database cannot be written (disk full, "
        "locked); records beyond it are counted as dropped.",
    )
    max_pending_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024 * 1024,
        description="Approximate memory of the records held while the database cannot be "
        "written; records beyond it are counted as dropped, as past `max_pending_records`.",
    )
    max_batch: int = Field(5000, ge=1, description="Most records written in one transaction.")
    busy_timeout_ms: int = Field(
        2000, ge=0, description="How long a write waits for a lock held by another process."
    )
    pending_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A record kept as its request ended (the store's early write, table `held`, while "
        "the cost engine holds it) waits this long (keep it above `cost.max_hold_s`) for its "
        "costed version; then it is stored and shipped with `cost_status: lost`. At start, "
        "records a killed agent left held are stored that way at once.",
    )
    max_disk_bytes: int = Field(
        4 * 1024**3,
        ge=0,
        description="Hard bound on the store's disk use: the database and its -wal and -shm, "
        "in bytes (0: no bound). Unlike `retention.max_size_mb`, it holds during "
        "an Elasticsearch outage too: at the bound the oldest rows are deleted even if not yet "
        'shipped (counted in inferwatch_store_retention_deleted_total{reason="disk_bound"} '
        "and inferwatch_store_unshipped_deleted_total, logged); requests are never held back. "
        "Checked every `retention.check_interval_s`, so it can be passed by what arrives in "
        "one interval. Default 4 GiB: four times the default size bound, room for a long outage.",
    )
    snapshot_interval_s: float = Field(
        30.0,
        ge=0,
        description="How often the agent stores a snapshot of its GPU, vLLM, host and cost "
        "metrics (table `samples`, for the dashboard's GPUs page; kept as long as "
        "`retention.max_age_days`). 0: no snapshots.",
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig)

    @property
    def path(self) -> Path:
        """The database file."""
        return self.dir / self.filename
