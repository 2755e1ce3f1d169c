"""The Request page's body: one request's whole record (`?id=<request_id>`), laid out to
read, plus its JSON. Prompt and completion text appear only when the record holds them
(capture was on; the agent redacted them before storing), under a labelled expander."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.ui import fmt, frame
from dashboards.ui.frame import PageContext

TEXTS = ("prompt_text", "completion_text")
DETAILS = (
    ("operation", "operation"),
    ("path", "path"),
    ("stream", "streamed"),
    ("response_model", "response model"),
    ("finish_reason", "finish reason"),
    ("http_status", "HTTP status"),
    ("error_type", "error type"),
    ("error_message", "error message"),
    ("trace_id", "trace id"),
    ("span_id", "span id"),
    ("parent_span_id", "parent span id"),
    ("client_request_id", "client's request id"),
    ("cost_status", "cost status"),
    ("cost_device_seconds", "device-seconds"),
    ("cost_joules", "energy (J)"),
)


def render(ctx: PageContext) -> None:
    """Draw the page."""
    if ctx.data is None:
        frame.unavailable(ctx.problem)
    wanted = st.text_input("Request id", st.query_params.get("id", ""), key="request_id")
    if not wanted.strip():
        st.info("Give a request id, or open one from the Cost or Requests page's tables.")
        return
    st.query_params["id"] = wanted.strip()
    record = frame.query(ctx, "record", wanted.strip())
    if record is None:
        if ctx.data is not None:
            st.warning(f"No request with id {fmt.plain(wanted.strip())} in the request log.")
        return
    show(record, ctx.app.settings.cost.currency)


def timings(record: dict) -> dict[str, float | None]:
    """Latency, time to first token and time per output token (seconds) of a stored
    record, from its monotonic timestamps (as `RequestRecord`'s properties)."""
    start, end, first = (record.get(k) for k in ("start_ns", "end_ns", "first_token_ns"))
    latency = (end - start) / 1e9 if start is not None and end is not None else None
    ttft = (first - start) / 1e9 if first is not None and start is not None else None
    n = record.get("completion_tokens") or 0
    tpot = None
    if record.get("stream") and ttft is not None and n >= 2 and end is not None:
        tpot = (end - first) / 1e9 / (n - 1)
    return {"latency": latency, "ttft": ttft, "tpot": tpot}


def show(record: dict, currency: str) -> None:
    """Draw one record: the headline, timings and tokens, details, verdicts, JSON."""
    # Ids, tenants and models come from clients: shown as text, never as markdown.
    st.subheader(fmt.plain(record.get("request_id", "?")))
    st.caption(
        f"{fmt.when(record.get('wall_time'))} · tenant {fmt.plain(record.get('tenant', '–'))} · "
        f"model {fmt.plain(record.get('model') or '–')} · "
        f"status {fmt.plain(record.get('status', '–'))}"
    )
    t = timings(record)
    shown = (
        ("Latency", fmt.duration(t["latency"])),
        ("Time to first token", fmt.duration(t["ttft"])),
        ("Time per output token", fmt.duration(t["tpot"])),
        ("Input tokens", fmt.count(record.get("prompt_tokens"))),
        ("Output tokens", fmt.count(record.get("completion_tokens"))),
        ("Cost", fmt.money(record.get("cost_amount"), record.get("cost_currency") or currency)),
    )
    for column, (label, value) in zip(st.columns(len(shown)), shown, strict=True):
        column.metric(label, value)
    rows = [(label, str(record[k])) for k, label in DETAILS if record.get(k) not in (None, "")]
    st.dataframe(pd.DataFrame(rows, columns=["field", "value"]), hide_index=True, key="details")
    _safety(record.get("safety") or [])
    _captured(record)
    with st.expander("The stored record (JSON)"):
        st.json({k: v for k, v in record.items() if k not in TEXTS})


def _safety(verdicts: list) -> None:
    st.subheader("Safety verdicts")
    if not verdicts:
        st.caption("No safety filter matched this request.")
        return
    st.dataframe(pd.DataFrame(verdicts), hide_index=True, key="verdicts")


def _captured(record: dict) -> None:
    texts = {k: record.get(k) for k in TEXTS if record.get(k)}
    if not texts:
        st.caption("No text stored for this request (capture is off by default).")
        return
    with st.expander("Captured text (redacted)"):
        for key, text in texts.items():
            st.markdown(f"**{key.replace('_', ' ')}**")
            st.code(text, language=None, wrap_lines=True)
