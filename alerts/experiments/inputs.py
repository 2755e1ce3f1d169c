"""Checks of the samples handed to a test: one clear ValueError for data that is wrong
(NaN, infinities, negative latencies), so no test ever computes a NaN effect from it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def sample(
    values: ArrayLike | Sequence[float], name: str, *, positive: bool = False
) -> NDArray[np.float64]:
    """`values` as a 1-D float array; ValueError if not 1-D, not finite, or (with
    `positive`) not all > 0."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sample, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: the sample holds NaN or infinite values")
    if positive and arr.size and arr.min() <= 0:
        raise ValueError(f"{name}: values must be > 0 (got {arr.min()})")
    return arr


def too_small(n_control: int, n_variant: int, min_n: int) -> str | None:
    """Why two arms are too small to compare (None when both have at least `min_n`)."""
    if min(n_control, n_variant) >= min_n:
        return None
    return (
        f"each arm needs at least {min_n} observations (control {n_control}, variant {n_variant})"
    )
