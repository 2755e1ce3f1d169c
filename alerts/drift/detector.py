"""`DriftDetector`: the current window of the request log against its reference, as alerts.

Each evaluation reads the current window (the last `window_s`) and the reference (the
`reference_s` before it, or the named snapshot) from a record source, runs
`alerts.drift.compare.compare`, and raises `InferwatchDrift` per drifted feature and
segment and `InferwatchDatasetDrift` per segment whose dataset drifted. Segments past
`max_segments` (the overall one first, then models and tenants as compare orders them)
are skipped and counted, so alert and metric labels stay bounded. Too few requests is
"not enough data": a note, never an alert. A source that cannot be read raises
`alerts.source.SourceUnavailable` to the caller (the engine counts it as an error and
keeps its alerts as they were, rather than resolving them all).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily

from agent.catalogue import spec
from alerts.drift.config import DriftConfig
from alerts.drift.report import DriftReport, FeatureResult
from alerts.model import Alert

if TYPE_CHECKING:  # pandas is loaded only with the comparison, on first use
    import pandas as pd

    Compare = Callable[[pd.DataFrame, pd.DataFrame, DriftConfig], DriftReport]

DRIFT = "InferwatchDrift"
DATASET_DRIFT = "InferwatchDatasetDrift"
DATASET = "dataset"  # the `feature` label of the dataset-level verdict


class DriftDetector:
    """A detector of the shared contract: `evaluate(now)` and `families()`."""

    def __init__(
        self,
        config: DriftConfig,
        source,
        snapshots=None,
        clock: Callable[[], float] = time.time,
        compare: Compare | None = None,
        history=None,
    ) -> None:
        self.config, self.source, self.snapshots, self.clock = config, source, snapshots, clock
        self.history = history  # an alerts.drift.history.DriftHistory, or None
        self._compare = compare
        self.report: DriftReport | None = None  # of the last evaluation
        self.notes: list[str] = []
        self.skipped_segments = 0

    def windows(self, now: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """(reference range, current range) of an evaluation at `now` (trailing reference)."""
        c = self.config
        cur = (now - c.window_s, now)
        return (cur[0] - c.reference_s, cur[0]), cur

    def evaluate(self, now: float | None = None) -> list[Alert]:
        """The drift alerts active at `now` (default: the clock)."""
        now = self.clock() if now is None else now
        (r0, r1), (c0, c1) = self.windows(now)
        current = self.source.frame(c0, c1)
        name = self.config.reference_snapshot
        reference = self.snapshots.load(name) if name else self.source.frame(r0, r1)
        report = self.report = self._run(reference, current)
        self.notes = _data_notes(len(reference), len(current), self.config.min_rows)
        self.notes += list(report.notes)
        if self.history is not None:
            self.history.record(now, report, self.segments())
        return self._alerts(report, now, len(reference), len(current))

    def _run(self, reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
        compare = self._compare
        if compare is None:
            from alerts.drift.compare import compare as library  # SciPy and friends, on use

            compare = library
        return compare(reference, current, self.config)

    def segments(self) -> list[str]:
        """Segments of the last report kept for alerts and metrics (at most `max_segments`)."""
        if self.report is None:
            return []
        every = list(dict.fromkeys(r.segment for r in self.report.rows))
        self.skipped_segments = max(0, len(every) - self.config.max_segments)
        return every[: self.config.max_segments]

    def _alerts(self, report: DriftReport, now: float, n_ref: int, n_cur: int) -> list[Alert]:
        kept = set(self.segments())
        sizes = _sizes(self.config, n_ref, n_cur)
        alerts = [
            _feature_alert(r, now, sizes) for r in report.rows if r.segment in kept and r.drifted
        ]
        for segment, drifted in report.dataset_drift.items():
            if drifted and segment in kept:
                alerts.append(_dataset_alert(report, segment, now, sizes))
        return alerts

    def families(self) -> list[GaugeMetricFamily]:
        """inferwatch_drift_score, _threshold and _detected from the last evaluation."""
        # Name, help and labels written once, in the catalogue.
        score = spec("inferwatch_drift_score").family()
        threshold = spec("inferwatch_drift_threshold").family()
        detected = spec("inferwatch_drift_detected").family()
        report, kept = self.report, set(self.segments())
        if report is None:
            return [score, threshold, detected]
        for r in report.rows:
            if r.segment not in kept:
                continue
            if r.tested:
                score.add_metric([r.feature, r.segment, r.test], r.statistic)
                threshold.add_metric([r.feature, r.segment, r.test], r.threshold)
            detected.add_metric([r.feature, r.segment], float(r.drifted))
        for segment, drifted in report.dataset_drift.items():
            if segment in kept:
                detected.add_metric([DATASET, segment], float(drifted))
        return [score, threshold, detected]


def _data_notes(n_ref: int, n_cur: int, min_rows: int) -> list[str]:
    return [
        f"not enough data: the {name} window has {n} requests (at least {min_rows} needed)"
        for name, n in (("reference", n_ref), ("current", n_cur))
        if n < min_rows
    ]


def _sizes(c: DriftConfig, n_ref: int, n_cur: int) -> str:
    ref = f"snapshot {c.reference_snapshot}" if c.reference_snapshot else f"{c.reference_s:g} s"
    return f"current window {c.window_s:g} s ({n_cur} requests), reference {ref} ({n_ref})"


def _feature_alert(r: FeatureResult, now: float, sizes: str) -> Alert:
    labels = {"alertname": DRIFT, "feature": r.feature, "segment": r.segment}
    summary = f"{r.feature} drifted in {r.segment}"
    description = (
        f"{r.test} statistic {r.statistic:.4g} against threshold {r.threshold:.4g} "
        f"({r.n_reference} reference vs {r.n_current} current values); {sizes}"
    )
    return Alert(
        labels={**labels, "severity": "warning"},
        annotations={"summary": summary, "description": description},
        starts_at=now,
    )


def _dataset_alert(report: DriftReport, segment: str, now: float, sizes: str) -> Alert:
    drifted = sorted(r.feature for r in report.rows if r.segment == segment and r.drifted)
    share = report.drifted_share(segment)
    labels = {"alertname": DATASET_DRIFT, "feature": DATASET, "segment": segment}
    description = (
        f"{share:.0%} of features drifted (limit {report.drift_share:.0%}): "
        f"{', '.join(drifted)}; {sizes}"
    )
    return Alert(
        labels={**labels, "severity": "warning"},
        annotations={"summary": f"dataset drift in {segment}", "description": description},
        starts_at=now,
    )
