"""The Experiments page: an A/B split, canary or shadow experiment from the agent's store,
its variant against its control (the report `inferwatch experiments report` prints):
the arms and the window, the verdicts, the distributions side by side, the effects with
their 95% intervals, and a canary's steps or a shadow's pairs.

Reads the store only: the request-log documents in Elasticsearch carry no experiment or
variant, so for a fleet read from Elasticsearch the page says so."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from alerts.experiments.stored import Arms, Unresolved, from_events
from dashboards.data import experiments as ex
from dashboards.data import experiments_report
from dashboards.data.api import DataUnavailable
from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext
from dashboards.views import experiments_charts as charts
from dashboards.views import experiments_effects as effects
from dashboards.views.alerts_common import panel

CACHE_S = 60.0  # a comparison takes seconds (the bootstrap); arms grow slowly beside it
ES_NOTE = (
    "Experiments are read from an agent's store: the request-log documents in "
    "Elasticsearch carry no experiment or variant. Start the dashboard with --data-dir "
    "(the agent's store.dir) to see them."
)

SOURCES = {  # where the page learned which arm is the control
    "config": "arms as the config names them. ",
    "events": "arms as the agent's start of the experiment named them. ",
    "store": "arms told apart by the store's rows. ",
}


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.app.settings.dashboard.source == "elasticsearch":
        st.info(ES_NOTE)
        return
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    path = ctx.app.settings.store.path
    listed = panel(lambda: ex.experiments(path))
    if listed is None:
        return
    if not listed:
        st.info(
            "No experiments in the store yet: configure `upstreams` and `experiments` "
            "(a split, canary or shadow) and the agent records each request's variant."
        )
        return
    chosen = _pick(listed)
    arms = _arms(ctx, chosen)
    if arms is None:
        return
    whole = not st.toggle("Only the sidebar's time range", key="experiment_in_range")
    since, until = (None, None) if whole else (ctx.filters.start, ctx.filters.end)
    try:
        report = _report(str(path), chosen.name, _key(arms), since, until)
    except DataUnavailable as err:
        st.error(str(err))
        return
    _draw(ctx, chosen, arms, report)


def _pick(listed: list[ex.Listed]) -> ex.Listed:
    """The experiment chosen (the running one first); kept in the URL (`?experiment=`)."""
    by_name = {x.name: x for x in listed}
    if "experiment" not in st.session_state:
        wanted = st.query_params.get("experiment")
        st.session_state["experiment"] = wanted if wanted in by_name else listed[0].name
    name = st.selectbox(
        "Experiment", list(by_name), key="experiment", format_func=lambda n: _label(by_name[n])
    )
    st.query_params["experiment"] = name
    return by_name[name]


def _label(x: ex.Listed) -> str:
    kind = from_events(list(x.events))
    return f"{x.name} ({kind.kind + ', ' if kind else ''}{x.state.replace('_', ' ')})"


def _arms(ctx: PageContext, chosen: ex.Listed) -> Arms | None:
    """The arms the config, the agent's events or the store name; else the person picks
    the control among the upstreams seen."""
    try:
        return ex.arms_of(chosen, ctx.app.settings)
    except Unresolved as err:
        names = [a.variant for a in chosen.arms]
        if len(names) != 2:
            st.warning(f"Cannot compare {fmt.plain(chosen.name)}: {fmt.plain(err)}")
            return None
        control = st.radio("Which upstream is the control?", names, horizontal=True)
        return ex.arms_of(chosen, ctx.app.settings, control)


def _key(arms: Arms) -> tuple[str, str, str]:
    return (arms.kind, arms.control, arms.variant)


@st.cache_data(ttl=CACHE_S, show_spinner="Comparing the arms...", max_entries=16)
def _report(
    path: str, name: str, arms: tuple[str, str, str], since: float | None, until: float | None
) -> experiments_report.PageReport:
    return experiments_report.build(Path(path), name, Arms(*arms, "page"), since, until)


def _draw(ctx: PageContext, chosen: ex.Listed, arms: Arms, report) -> None:
    doc, currency = report.doc, ctx.app.settings.cost.currency
    _header(doc, arms)
    st.subheader("Verdicts")
    effects.summary(doc)
    st.subheader("Distributions")
    charts.distributions(report.histograms, currency)
    st.subheader("Effects with their 95% intervals")
    effects.forest(doc)
    effects.effects_table(doc, currency)
    if arms.kind == "canary" or any(e["event"] != "started" for e in chosen.events):
        st.subheader("Canary steps")
        charts.canary(chosen.events, max(ctx.now, chosen.last))
    if arms.kind == "shadow":
        st.subheader("Shadow pairs")
        charts.pairs(report.pairs, doc["n"]["pairs"])


def _header(doc: dict, arms: Arms) -> None:
    n, w = doc["n"], doc["window"]
    left, right, third = st.columns(3)
    left.metric(f"Control: {fmt.plain(arms.control)}", fmt.count(n["control"]))
    right.metric(f"Variant: {fmt.plain(arms.variant)}", fmt.count(n["variant"]))
    third.metric("Kind", arms.kind)
    since = fmt.when(w["since"]) if w["since"] is not None else "the first request"
    until = fmt.when(w["until"]) if w["until"] is not None else "now"
    st.caption(
        f"Requests from {since} to {until}; {SOURCES.get(arms.source, '')}Verdicts "
        "at the Holm-adjusted p-value < 0.05; every metric's effect with its 95% interval."
    )
