"""The GPUs and vLLM page's body: per-GPU utilisation, memory, power, energy, temperature,
throttling and XID errors, and the vLLM engine's queue, KV cache and preemptions, from the
agent's metric snapshots or a Prometheus (`ctx.series`, a `SeriesData`).

`render(ctx)` needs `ctx.filters` (api.Filters), `ctx.step_s` and `ctx.series` (None when
no source can be opened). Every panel has its CSV; absent data is said plainly.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboards.data.api import DataUnavailable

GIB = 2**30
# name: (panel title, unit shown, factor from the stored unit)
GPU_PANELS = {
    "hw_gpu_utilization_ratio": ("Utilisation", "%", 100.0),
    "hw_gpu_memory_usage_bytes": ("Memory used", "GiB", 1 / GIB),
    "hw_gpu_power_draw_watts": ("Power", "W", 1.0),
    "hw_gpu_energy_consumed_joules_total": ("Energy use (mean power per step)", "W", 1.0),
    "hw_gpu_temperature_celsius": ("Temperature", "°C", 1.0),
}
MEMORY_LIMIT = "hw_gpu_memory_limit_bytes"
THROTTLE = "inferwatch_gpu_clock_event_reason"
ERRORS = "hw_errors_total"
VLLM_PANELS = {
    "inferwatch_vllm_requests_waiting": ("Requests waiting", "requests", 1.0),
    "inferwatch_vllm_requests_running": ("Requests running", "requests", 1.0),
    "inferwatch_vllm_kv_cache_usage_ratio": ("KV-cache use", "%", 100.0),
    "inferwatch_vllm_preemptions_total": ("Preemptions", "per s", 1.0),
}
NAMES = (*GPU_PANELS, MEMORY_LIMIT, THROTTLE, ERRORS, *VLLM_PANELS)


def render(ctx) -> None:
    """Draw the page."""
    if ctx.series is None:
        st.info(
            "No metric source: point the dashboard at an agent's data folder or give it a Prometheus URL."
        )
        return
    st.caption(f"Source: {ctx.series.info()}")
    try:
        df = _fetch(
            ctx.series, ctx.series.info(), NAMES, ctx.filters.start, ctx.filters.end, ctx.step_s
        )
    except DataUnavailable as err:
        st.error(str(err))
        return
    df = df.assign(time=pd.to_datetime(df["t"], unit="s", utc=True))
    st.subheader("GPUs")
    _gpus(df[df["name"].isin((*GPU_PANELS, MEMORY_LIMIT, THROTTLE, ERRORS))], ctx.step_s)
    st.subheader("vLLM engine")
    _vllm(df[df["name"].isin(VLLM_PANELS)], ctx.step_s, ctx.filters.models)


@st.cache_data(ttl=10, show_spinner=False, max_entries=64)
def _fetch(_series, source: str, names, start, end, step_s) -> pd.DataFrame:
    return _series.series(names, start, end, step_s)


def _gpus(df: pd.DataFrame, step_s: int) -> None:
    if df.empty or "gpu" not in df:
        st.info("No GPU seen in this range.")
        return
    df = df.assign(device=_device(df))
    devices = sorted(df["device"].unique())
    picked = st.multiselect("GPUs", devices, default=devices, key="gpus_picked")
    df = df[df["device"].isin(picked)]
    st.dataframe(_latest(df, step_s), hide_index=True, key="gpus_latest")
    _csv(_latest(df, step_s), "gpus_latest")
    for name, (title, unit, factor) in GPU_PANELS.items():
        _chart(df[df["name"] == name], f"{title} ({unit})", factor, "device", f"gpu_{name}")
    _xids(df[df["name"] == ERRORS], step_s)


def _device(df: pd.DataFrame) -> pd.Series:
    """One name per GPU: its index and model, and the agent's instance in a fleet."""
    label = "GPU " + _text(df, "gpu") + " · " + _text(df, "hw_model")
    if "instance" in df:
        label = label + " @ " + _text(df, "instance")
    return label


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    """A label column as text ("" where a series lacks the label, or all lack it)."""
    if column not in df:
        return pd.Series("", index=df.index)
    return df[column].fillna("").astype(str)


def _latest(df: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """A row per GPU: the last value of each gauge, energy and XID errors over the range."""
    last = df.sort_values("t").groupby(["device", "name"])["value"].last().unstack("name")
    total = (
        (df.assign(v=df["value"] * step_s)).groupby(["device", "name"])["v"].sum().unstack("name")
    )
    ix = last.index
    return pd.DataFrame(
        {
            "GPU": ix,
            "Utilisation (%)": _col(last, "hw_gpu_utilization_ratio", ix) * 100,
            "Memory used (GiB)": _col(last, "hw_gpu_memory_usage_bytes", ix) / GIB,
            "Memory total (GiB)": _col(last, MEMORY_LIMIT, ix) / GIB,
            "Power (W)": _col(last, "hw_gpu_power_draw_watts", ix),
            "Temperature (°C)": _col(last, "hw_gpu_temperature_celsius", ix),
            "Energy in range (Wh)": _col(total, "hw_gpu_energy_consumed_joules_total", ix) / 3600,
            "Throttled now by": _throttled_now(df, ix),
            "XID errors in range": _col(total, ERRORS, ix).round(),
        }
    ).round(2)


def _col(wide: pd.DataFrame, name: str, index: pd.Index):
    if name not in wide:
        return pd.Series(float("nan"), index=index).to_numpy()
    return wide[name].reindex(index).to_numpy()


def _throttled_now(df: pd.DataFrame, index: pd.Index) -> list[str]:
    """Per GPU, the clock-event reasons holding its clocks down at its last snapshot."""
    reasons = df[df["name"] == THROTTLE].assign(reason=lambda d: _text(d, "reason"))
    now = reasons[reasons["t"] == reasons.groupby("device")["t"].transform("max")]
    now = now[now["value"] > 0]
    return [", ".join(sorted(now[now["device"] == d]["reason"])) for d in index]


def _chart(df: pd.DataFrame, title: str, factor: float, by: str, key: str) -> None:
    if df.empty:
        return
    shown = df.assign(value=df["value"] * factor).sort_values("t")
    fig = px.line(
        shown, x="time", y="value", color=by, title=title, labels={"value": title, "time": ""}
    )
    st.plotly_chart(fig, key=key)
    _csv(shown[["t", by, "labels", "value"]], key)


def _xids(df: pd.DataFrame, step_s: int) -> None:
    if df.empty or "error_type" not in df:
        st.caption("No XID errors in this range.")
        return
    by = ["device", "error_type"]
    totals = df.assign(errors=df["value"] * step_s).groupby(by)["errors"].sum().round()
    counts = totals[totals > 0].reset_index()
    if counts.empty:
        st.caption("No XID errors in this range.")
        return
    st.markdown("**XID errors in this range**")
    st.dataframe(
        counts.rename(columns={"device": "GPU", "error_type": "XID"}),
        hide_index=True,
        key="gpus_xid",
    )
    _csv(counts, "gpus_xid")


def _vllm(df: pd.DataFrame, step_s: int, models: tuple[str, ...]) -> None:
    if models and "gen_ai_request_model" in df:
        df = df[df["gen_ai_request_model"].isin(models)]
    if df.empty:
        st.info("No vLLM metrics in this range.")
        return
    df = df.assign(engine=_text(df, "gen_ai_request_model") + " engine " + _text(df, "engine"))
    last = df.sort_values("t").groupby("name")["value"].last()
    cols = st.columns(4)
    cols[0].metric("Waiting now", f"{last.get('inferwatch_vllm_requests_waiting', 0):g}")
    cols[1].metric("Running now", f"{last.get('inferwatch_vllm_requests_running', 0):g}")
    cols[2].metric(
        "KV cache now", f"{100 * last.get('inferwatch_vllm_kv_cache_usage_ratio', 0):.1f} %"
    )
    pre = df[df["name"] == "inferwatch_vllm_preemptions_total"]["value"].sum() * step_s
    cols[3].metric("Preemptions in range", f"{pre:.0f}")
    for name, (title, unit, factor) in VLLM_PANELS.items():
        _chart(df[df["name"] == name], f"{title} ({unit})", factor, "engine", f"vllm_{name}")


def _csv(df: pd.DataFrame, name: str) -> None:
    data = df.to_csv(index=False).encode()
    st.download_button(
        "Download CSV", data, file_name=f"{name}.csv", mime="text/csv", key=f"csv_{name}"
    )
