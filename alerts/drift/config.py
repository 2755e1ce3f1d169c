"""Configuration of drift detection (section `alerts.drift`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DriftConfig(BaseModel):
    """Which windows are compared, with which tests, and when drift is declared."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Run drift detection in the agent.")
    window_s: float = Field(3600.0, gt=0, description="Length of the current window, seconds.")
    reference_s: float = Field(
        86400.0, gt=0, description="Length of the trailing reference window before it, seconds."
    )
    reference_snapshot: str | None = Field(
        None,
        description="Name of a saved reference (inferwatch drift snapshot NAME) to use instead.",
    )
    # --- data of drift (drift-data): what is read, saved and labelled ---
    max_segments: int = Field(
        20,
        ge=1,
        description="Segments (all, then models and tenants) given alerts and metrics; the "
        "rest are skipped and counted, so labels stay bounded.",
    )
    source_max_rows: int = Field(
        200_000,
        ge=100,
        description="Records read per window from the store or Elasticsearch (a uniform "
        "sample beyond), bounding the detector's memory.",
    )
    snapshot_max_rows: int = Field(
        50_000, ge=100, description="Records kept in a saved reference (a uniform sample beyond)."
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Share of drifted features that makes the dataset drift."
    )
