"""The drift report: one row per feature and segment, a dataset verdict per segment."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

NOT_ENOUGH_DATA = "not enough data"


@dataclass(frozen=True)
class FeatureResult:
    """One feature in one segment: its test, statistic, threshold and verdict.

    For p-value tests (ks, chisquare, z) drift is statistic < threshold; for distances
    (wasserstein, jensenshannon, psi) and the text domain classifier's ROC AUC it is
    statistic >= threshold. `p_value` is the calibrated p-value (NaN when the feature was
    not tested, or with calibration off for a distance), `p_adjusted` its
    Benjamini-Hochberg adjustment across every tested feature and segment.
    """

    feature: str
    segment: str
    test: str
    statistic: float
    threshold: float
    p_value: float
    drifted: bool
    n_reference: int
    n_current: int
    note: str = ""
    p_adjusted: float = math.nan

    @property
    def tested(self) -> bool:
        """False when the feature had too few rows (never counted as drift)."""
        return self.test != ""


@dataclass
class DriftReport:
    """Rows per feature x segment, and per segment whether the dataset drifted."""

    rows: list[FeatureResult]
    dataset_drift: dict[str, bool]
    drift_share: float
    notes: list[str] = field(default_factory=list)

    def drifted_share(self, segment: str) -> float:
        """Share of the tested features of `segment` that drifted (0 when none was tested)."""
        tested = [r for r in self.rows if r.segment == segment and r.tested]
        return sum(r.drifted for r in tested) / len(tested) if tested else 0.0

    def to_dict(self) -> dict:
        """JSON-safe form: NaN and infinities become None."""
        return {
            "drift_share": self.drift_share,
            "dataset_drift": dict(self.dataset_drift),
            "drifted_share": {s: self.drifted_share(s) for s in self.dataset_drift},
            "notes": list(self.notes),
            "rows": [{k: _json(v) for k, v in asdict(r).items()} for r in self.rows],
        }

    def table(self) -> str:
        """Plain-text table with aligned columns, one line per row, then the verdicts."""
        head = [
            "segment",
            "feature",
            "test",
            "statistic",
            "threshold",
            "p",
            "drift",
            "n_ref",
            "n_cur",
            "note",
        ]
        body = [_cells(r) for r in self.rows]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(x, widths, strict=False)).rstrip()
            for x in [head, *body]
        ]
        for seg, drift in self.dataset_drift.items():
            share = self.drifted_share(seg)
            lines.append(
                f"dataset drift [{seg}]: {'YES' if drift else 'no'} ({share:.0%} of features drifted, limit {self.drift_share:.0%})"
            )
        return "\n".join(lines + self.notes)


def _json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4g}"


def _cells(r: FeatureResult) -> list[str]:
    return [
        r.segment,
        r.feature,
        r.test or "-",
        _num(r.statistic),
        _num(r.threshold),
        _num(r.p_value),
        "YES" if r.drifted else "no",
        str(r.n_reference),
        str(r.n_current),
        r.note,
    ]
