"""The Drift page: the sidebar's range (the current window) against a reference (the
trailing window before it, a date range, or a saved snapshot), compared by the agent's
own drift code on page-sized samples; per feature and segment the two distributions
overlaid, and the statistic over time against its threshold (from the detector's
history); the dataset verdict per segment."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from alerts.source import SourceUnavailable
from dashboards.data import alerts_compare, alerts_drift
from dashboards.data.alerts import AlertsData
from dashboards.data.api import DataUnavailable
from dashboards.ui import frame, timerange
from dashboards.ui.frame import PageContext
from dashboards.views import drift_panels
from dashboards.views.alerts_common import panel

CACHE_S = 60.0
REFERENCES = ("Trailing window", "Date range", "Saved snapshot")


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    config = alerts_compare.page_config(ctx.app.settings.alerts.drift)
    db = AlertsData(ctx.app.alerts_db)
    reference = _pick_reference(ctx, config, db)
    if reference is None:
        return
    f = ctx.filters
    try:
        report, ref, cur = _compare(
            ctx.source_key,
            reference,
            (f.start, f.end),
            f.models,
            f.tenants,
            _settings=ctx.app.settings,
        )
    except (DataUnavailable, SourceUnavailable) as err:
        st.error(str(err))
        return
    if len(ref) == 0 or len(cur) == 0:
        which = "reference" if len(ref) == 0 else "current"
        st.info(f"No requests in the {which} window: widen the range or pick another reference.")
        return
    st.caption(
        f"Compared {len(ref):,} reference and {len(cur):,} current requests (uniform samples "
        f"of at most {config.source_max_rows:,} per window)."
    )
    drift_panels.verdicts(report)
    segment, feature = drift_panels.choose(report)
    drift_panels.distributions(ref, cur, feature, segment, config)
    drift_panels.report_table(report, segment)
    panel(lambda: drift_panels.history(db, feature, segment, f.start, f.end))


def _pick_reference(ctx: PageContext, config, db: AlertsData) -> tuple | None:
    """("range", start, end) or ("snapshot", name); None when there is none to pick."""
    kind = st.radio("Reference", REFERENCES, horizontal=True, key="drift_reference")
    start = ctx.filters.start
    if kind == REFERENCES[0]:
        st.caption(
            f"Reference: the {config.reference_s / 3600:g} h before the range "
            "(alerts.drift.reference_s)."
        )
        return ("range", start - config.reference_s, start)
    if kind == REFERENCES[1]:
        today = dt.datetime.fromtimestamp(ctx.now, dt.UTC).date()
        picked = st.date_input(
            "Reference dates (UTC)",
            (today - dt.timedelta(days=8), today - dt.timedelta(days=1)),
            max_value=today,
            key="drift_dates",
        )
        if not isinstance(picked, tuple) or len(picked) != 2:
            st.info("Pick the first and the last day of the reference.")
            return None
        return ("range", *timerange.days(*picked))
    names = panel(lambda: list(alerts_drift.snapshots(db)["name"]))
    if not names:
        if names is not None:
            st.info("No snapshots saved: `inferwatch drift snapshot NAME` saves one.")
        return None
    return ("snapshot", st.selectbox("Snapshot", names, key="drift_snapshot"))


@st.cache_data(ttl=CACHE_S, show_spinner="Comparing the windows...", max_entries=32)
def _compare(
    source: tuple, reference: tuple, current: tuple, models: tuple, tenants: tuple, _settings
):
    """The report and both windows' frames (cached: a comparison takes about a second)."""
    config = alerts_compare.page_config(_settings.alerts.drift)
    records = alerts_compare.source_for(_settings, config)
    cur = alerts_compare.read(records, current[0], current[1], models, tenants)
    if reference[0] == "snapshot":
        ref = alerts_drift.snapshot(AlertsData(_settings.store.dir / "alerts.db"), reference[1])
        ref = alerts_compare.keep(ref, models, tenants)
    else:
        ref = alerts_compare.read(records, reference[1], reference[2], models, tenants)
    return alerts_compare.compare(ref, cur, config), ref, cur
