"""The frame every page shares: its title, the sidebar (time range, model and tenant
filters, auto-refresh), the data source, cached queries, and the plain messages a page
shows instead of a traceback.

A page script is three lines: `ctx = frame.page("Cost")` then its view's `render(ctx)`.
The filters live in the URL's query parameters too (`?range=1d&model=a&tenant=b`), so a
page's address can be bookmarked and shared with its filters.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd
import streamlit as st

from agent.config import ConfigError
from dashboards.context import DashboardContext, load_context, open_data
from dashboards.data.api import DataUnavailable, Filters, RequestData, step_for
from dashboards.data.series import SeriesData, open_series
from dashboards.ui import timerange

REFRESH_CHOICES = {"Off": 0, "10 s": 10, "30 s": 30, "1 min": 60, "5 min": 300}


@dataclass(frozen=True)
class PageContext:
    """What a page's view draws from. `data` is None when the request log cannot be
    read; `problem` then says why (the view calls `unavailable(ctx.problem)`)."""

    app: DashboardContext
    data: RequestData | None
    problem: str | None
    filters: Filters
    step_s: int
    now: float
    source_key: tuple  # identifies the data source in query caches
    series: SeriesData | None = None  # metric series (snapshots or Prometheus), if any


@st.cache_resource(show_spinner=False)
def _context(argv: tuple[str, ...]) -> DashboardContext:
    return load_context(argv)


@st.cache_resource(show_spinner=False)
def _data(argv: tuple[str, ...]) -> RequestData:
    # Not cached when it raises: a store that appears later is opened on the next run.
    return open_data(_context(argv))


_CONTEXT_KEY = "_page_context"  # this run's PageContext (or the config error, a str)


def prepare() -> None:
    """Build this run's page context and draw the shared sidebar. The app calls it before
    the chosen page runs: widgets the entrypoint draws keep their state from page to page
    (drawn by a page script, Streamlit would reset them on every page change)."""
    argv = tuple(sys.argv[1:])
    try:
        app = _context(argv)
    except ConfigError as err:
        st.session_state[_CONTEXT_KEY] = f"The dashboard's configuration is not valid: {err}"
        return
    now = app.now()
    data, problem = _open(argv)
    try:
        filters = _sidebar(data, app, now)
    except DataUnavailable as err:  # the first query of the page: say it once, not per panel
        data, problem = None, str(err)
        filters = Filters(*timerange.last(timerange.RANGES[timerange.DEFAULT][1], now))
    step = step_for(filters.span_s)
    ctx = PageContext(app, data, problem, filters, step, now, argv, _series(app))
    st.session_state[_CONTEXT_KEY] = ctx


def page(title: str) -> PageContext:
    """Draw the page's title and where its data comes from; returns the page's context
    (built by `prepare` in this run)."""
    st.title(title)
    ctx = st.session_state.get(_CONTEXT_KEY)
    if ctx is None:  # a page script run on its own
        prepare()
        ctx = st.session_state[_CONTEXT_KEY]
    if isinstance(ctx, str):
        unavailable(ctx)
    _source_line(ctx.data, ctx.now)
    return ctx


def _series(app: DashboardContext) -> SeriesData | None:
    """Prometheus when configured, else the store's snapshots (none for a fleet read from
    Elasticsearch: its agents' snapshots stay in their own stores)."""
    d, store = app.settings.dashboard, app.settings.store
    if d.prometheus_url is None and d.source == "elasticsearch":
        return None
    return open_series(store.path, str(d.prometheus_url) if d.prometheus_url else None)


def _open(argv: tuple[str, ...]) -> tuple[RequestData | None, str | None]:
    try:
        return _data(argv), None
    except DataUnavailable as err:
        return None, str(err)


def _sidebar(data: RequestData | None, app: DashboardContext, now: float) -> Filters:
    with st.sidebar:
        start, end = timerange.pick(now)
        base = Filters(start, end)
        models = _multi("Models", "model", data, base)
        tenants = _multi("Tenants", "tenant", data, base)
        _refresh(app.settings.dashboard.refresh_s)
    return Filters(start, end, tuple(models), tuple(tenants))


def _multi(label: str, dimension: str, data: RequestData | None, base: Filters) -> list[str]:
    options = _values(data, dimension, base) if data is not None else []
    key = f"filter_{dimension}"
    if key not in st.session_state:
        wanted = st.query_params.get_all(dimension)
        st.session_state[key] = [v for v in wanted if v in options] or []
    # A value picked before stays offered even if this range has none of it.
    options = sorted(set(options) | set(st.session_state[key]))
    picked = st.multiselect(label, options, key=key, placeholder="All")
    st.query_params[dimension] = picked
    return picked


def _values(data: RequestData, dimension: str, base: Filters) -> list[str]:
    return _cached_query(data, ("values", dimension, base))


def _refresh(default_s: int) -> None:
    names = list(REFRESH_CHOICES)
    if "refresh" not in st.session_state:
        wanted = st.query_params.get("refresh")
        by_seconds = {str(v): k for k, v in REFRESH_CHOICES.items()}
        st.session_state["refresh"] = by_seconds.get(wanted or str(default_s), "Off")
    choice = st.selectbox("Auto-refresh", names, key="refresh")
    every = REFRESH_CHOICES[choice]
    st.query_params["refresh"] = str(every)
    if every:
        _ticker(every)


def _ticker(every_s: int) -> None:
    """Rerun the whole page every `every_s` seconds (a fragment's timer; its first run is
    part of the page's own run and does nothing)."""
    st.session_state["_ticker_armed"] = False

    @st.fragment(run_every=every_s)
    def tick() -> None:
        if st.session_state.get("_ticker_armed"):
            st.rerun()
        st.session_state["_ticker_armed"] = True

    tick()


def _source_line(data: RequestData | None, now: float) -> None:
    """Where the numbers come from, and when they were read (auto-refresh moves it)."""
    if data is None:
        return
    info = data.info()
    at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%H:%M:%S")
    st.caption(f"Source: {info.kind} · {info.location} · read at {at} UTC")
    for note in info.notes:
        st.warning(note)


# ---- queries ----------------------------------------------------------------------------


@cache
def _cache_for(ttl_s: float) -> Callable:
    @st.cache_data(ttl=ttl_s, show_spinner=False, max_entries=512)
    def run(_data: RequestData, source: tuple, call: tuple) -> Any:
        method, *args = call
        return getattr(_data, method)(*args)

    return run


def _cached_query(data: RequestData, call: tuple, source: tuple = (), ttl_s: float = 10.0):
    return _cache_for(ttl_s)(data, source or (id(data),), call)


def query(ctx: PageContext, method: str, *args: Any) -> Any:
    """`ctx.data.<method>(*args)`, its answer reused for `dashboard.cache_s` seconds;
    None (with the reason shown on the page) when the request log cannot answer."""
    if ctx.data is None:
        return None
    ttl = ctx.app.settings.dashboard.cache_s
    try:
        if not ttl:  # caching off: every run asks the source
            return getattr(ctx.data, method)(*args)
        return _cached_query(ctx.data, (method, *args), ctx.source_key, ttl)
    except DataUnavailable as err:
        st.error(str(err))
        return None


# ---- plain messages and exports ---------------------------------------------------------


def unavailable(problem: str | None) -> None:
    """Say why the page has nothing to show, and stop it there."""
    st.error(problem or "The request log cannot be read.")
    st.stop()


def no_data(what: str) -> None:
    """Say plainly that the range holds nothing of `what`."""
    st.info(f"No {what} in this time range. Widen the range or clear the filters.")


def csv_text(frame: pd.DataFrame) -> str:
    """`frame` as CSV, with text cells a spreadsheet would run as a formula (starting with
    = + - @, a tab or a carriage return) prefixed with `'` (OWASP's advice): tenant and
    model names come from clients, and an operator opens the file in a spreadsheet."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_inert_cell)
    return safe.to_csv(index=False)


def _inert_cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_button(frame: pd.DataFrame, name: str, label: str = "Download CSV") -> None:
    """A button that downloads what a panel shows, as CSV (`csv_text`)."""
    st.download_button(
        label,
        csv_text(frame).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"csv_{name}",
    )
