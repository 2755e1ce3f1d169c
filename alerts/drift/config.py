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

    # --- statistics of drift (drift-stats): tests, calibration, segments, text ---
    tests: dict[str, str] = Field(
        default_factory=dict,
        description="Test per feature name instead of Evidently's default selection "
        "(ks, wasserstein, chisquare, z, jensenshannon, psi); key '*' applies to every feature.",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Significance level of the p-value tests (ks, chisquare, z)."
    )
    fdr: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="False discovery rate held by Benjamini-Hochberg across features and segments.",
    )
    calibrate: bool = Field(
        True,
        description="Calibrate each test to the window sizes (bootstrap null from the "
        "reference, then Benjamini-Hochberg); false: Evidently's fixed thresholds only.",
    )
    calibration_floor: bool = Field(
        True,
        description="Never let a calibrated distance threshold fall below Evidently's fixed "
        "one (0.1 for wasserstein, jensenshannon, psi; 0.55 ROC AUC for text).",
    )
    calibration_resamples: int = Field(
        200, ge=20, le=10000, description="Bootstrap draws of the null per feature and segment."
    )
    calibration_max_rows: int = Field(
        1000,
        ge=50,
        description="Sample size cap of the Wasserstein null; larger windows are simulated at "
        "this size and rescaled by sqrt(n_eff).",
    )
    max_rows: int = Field(
        100_000,
        ge=1000,
        description="Rows per window beyond which a seeded random subsample of whole rows is "
        "tested (the distances' sampling error at 100k rows is about 0.005).",
    )
    max_value_rows: int = Field(
        20_000,
        ge=1000,
        description="Values per window of a numerical test (ks, wasserstein, psi) beyond which a "
        "seeded random subsample is tested: they sort their input, categorical counts do not.",
    )
    min_rows: int = Field(
        30, ge=2, description="Rows per window a feature needs; fewer is 'not enough data'."
    )
    min_segment_rows: int = Field(
        200, ge=2, description="Rows per window a model or tenant needs to be its own segment."
    )
    psi_bins: int | None = Field(
        None,
        ge=2,
        description="Bins of numerical PSI/Jensen-Shannon; none: Sturges' rule, as Evidently.",
    )
    text_trigger_words: list[str] = Field(
        default_factory=lambda: [
            "ignore previous",
            "system prompt",
            "jailbreak",
            "password",
            "api key",
        ],
        description="Phrases counted (case-insensitive) by the text descriptor trigger_words.",
    )
    text_max_rows: int = Field(
        2000,
        ge=20,
        description="Texts per window the domain classifier is trained on (subsampled).",
    )
    seed: int = Field(
        0, description="Seed of subsampling and of the bootstrap, for reproducible reports."
    )
    log_scale: bool = Field(
        True,
        description="Test token counts, latencies and cost on log1p of their values (they are "
        "right-skewed: more power for shifts of scale). False: Evidently's raw scale.",
    )
