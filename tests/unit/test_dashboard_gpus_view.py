"""The GPUs and vLLM page's view under Streamlit's AppTest, on a store holding snapshots
written by the agent's own sampler: the table shows each GPU's latest values (units
converted), the energy and XID errors of the range, the throttling reason; the vLLM
figures; and plain messages where the store has no snapshots or cannot be read."""

from __future__ import annotations

import sqlite3

import pytest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily
from streamlit.testing.v1 import AppTest

from agent.store.config import StoreConfig
from agent.store.samples import Sampler

pytestmark = pytest.mark.unit

GPU = ["gpu", "hw_id", "hw_model", "pci_bus_id"]
VLLM = ["gen_ai_request_model", "engine"]
NOW = 1_800_000_000  # a multiple of 60
GIB = 2**30
# Per GPU: utilisation, memory used, power (W), temperature, energy per snapshot (J).
GPUS = {
    "0": ("NVIDIA L4", 0.75, 20 * GIB, 250.0, 61.0, 7500.0),
    "1": ("NVIDIA H100 80GB HBM3", 0.30, 40 * GIB, 100.0, 45.0, 3000.0),
}


def families(i: int) -> list:
    """The i-th snapshot (every 30 s): steady GPUs, energy growing, GPU 1 throttled by a
    power cap from the 5th snapshot and one XID 79 on GPU 1 at the 3rd, vLLM busy."""
    fams = {
        n: GaugeMetricFamily(n, n, labels=GPU)
        for n in (
            "hw_gpu_utilization_ratio",
            "hw_gpu_memory_usage_bytes",
            "hw_gpu_memory_limit_bytes",
            "hw_gpu_power_draw_watts",
            "hw_gpu_temperature_celsius",
        )
    }
    energy = CounterMetricFamily("hw_gpu_energy_consumed_joules", "e", labels=GPU)
    reason = GaugeMetricFamily("inferwatch_gpu_clock_event_reason", "r", labels=[*GPU, "reason"])
    xid = CounterMetricFamily("hw_errors", "x", labels=[*GPU, "hw_type", "error_type"])
    for gpu, (model, util, mem, watts, temp, joules) in GPUS.items():
        ids = [gpu, f"GPU-{gpu}", model, f"00:0{gpu}"]
        for name, v in zip(fams, (util, mem, 80 * GIB, watts, temp), strict=True):
            fams[name].add_metric(ids, v)
        energy.add_metric(ids, 1e6 + joules * i)
        reason.add_metric([*ids, "sw_power_cap"], 1.0 if gpu == "1" and i >= 5 else 0.0)
        xid.add_metric([*ids, "gpu", "xid_79"], 1.0 if gpu == "1" and i >= 3 else 0.0)
    running = GaugeMetricFamily("inferwatch_vllm_requests_running", "r", labels=VLLM)
    running.add_metric(["tiny-llama", "0"], 3)
    waiting = GaugeMetricFamily("inferwatch_vllm_requests_waiting", "w", labels=VLLM)
    waiting.add_metric(["tiny-llama", "0"], 2)
    kv = GaugeMetricFamily("inferwatch_vllm_kv_cache_usage_ratio", "k", labels=VLLM)
    kv.add_metric(["tiny-llama", "0"], 0.25)
    pre = CounterMetricFamily("inferwatch_vllm_preemptions", "p", labels=VLLM)
    pre.add_metric(["tiny-llama", "0"], 6 * i)
    return [*fams.values(), energy, reason, xid, running, waiting, kv, pre]


@pytest.fixture
def store(tmp_path):
    """A store with 21 snapshots, every 30 s over the 10 minutes before NOW."""
    it = iter(range(21))
    sampler = Sampler(StoreConfig(dir=tmp_path), lambda: families(next(it)))
    for k in range(21):
        assert sampler.once(now=NOW - 600 + 30 * k)
    return tmp_path / "requests.sqlite3"


def page(path, start=NOW - 600, end=NOW, series=True) -> AppTest:
    def script(path, start, end, series):
        from types import SimpleNamespace

        from dashboards.data.api import Filters
        from dashboards.data.series_store import StoreSeries
        from dashboards.views import gpus

        src = StoreSeries(path) if series else None
        ctx = SimpleNamespace(filters=Filters(start, end), step_s=60, series=src, config=None)
        gpus.render(ctx)

    kwargs = {"path": str(path), "start": start, "end": end, "series": series}
    return AppTest.from_function(script, kwargs=kwargs, default_timeout=30).run()


def test_table_shows_each_gpus_latest_values_energy_and_xids(store):
    at = page(store)
    assert not at.exception
    table = at.dataframe[0].value.set_index("GPU")
    assert list(table.index) == ["GPU 0 · NVIDIA L4", "GPU 1 · NVIDIA H100 80GB HBM3"]
    assert table["Utilisation (%)"].tolist() == [75.0, 30.0]
    assert table["Temperature (°C)"].tolist() == [61.0, 45.0]
    assert table["Memory used (GiB)"].tolist() == [20.0, 40.0]
    assert table["Memory total (GiB)"].tolist() == [80.0, 80.0]
    assert table["Power (W)"].tolist() == [250.0, 100.0]
    # 10 one-minute steps, each at 250 W (7500 J per 30 s; the first from its own two
    # snapshots, none being before it): 10 min of 250 W = 41.67 Wh (GPU 1: 100 W, 16.67).
    assert table["Energy in range (Wh)"].tolist() == [41.67, 16.67]
    assert table["Throttled now by"].tolist() == ["", "sw_power_cap"]
    assert table["XID errors in range"].tolist() == [0.0, 1.0]
    xids = at.dataframe[1].value
    assert xids.to_dict("records") == [
        {"GPU": "GPU 1 · NVIDIA H100 80GB HBM3", "XID": "xid_79", "errors": 1.0}
    ]


def test_vllm_figures(store):
    at = page(store)
    shown = {m.label: m.value for m in at.metric}
    # 6 preemptions per 30 s snapshot, over the 10 steps (see above): 120.
    assert shown == {
        "Waiting now": "2",
        "Running now": "3",
        "KV cache now": "25.0 %",
        "Preemptions in range": "120",
    }
    assert len(at.get("plotly_chart")) == 5 + 4


def test_a_store_without_snapshots_says_so(tmp_path):
    path = tmp_path / "requests.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE requests (id)").connection.close()
    at = page(path)
    assert not at.exception and not at.dataframe
    assert [i.value for i in at.info] == [
        "No GPU seen in this range.",
        "No vLLM metrics in this range.",
    ]


def test_a_range_before_the_snapshots_says_so(store):
    at = page(store, start=NOW - 7200, end=NOW - 3600)
    assert [i.value for i in at.info] == [
        "No GPU seen in this range.",
        "No vLLM metrics in this range.",
    ]


def test_no_store_is_a_plain_error(tmp_path):
    at = page(tmp_path / "none.sqlite3")
    assert not at.exception
    assert len(at.error) == 1 and "no store at" in at.error[0].value


def test_no_source_is_a_plain_message(tmp_path):
    at = page(tmp_path, series=False)
    assert not at.exception and "No metric source" in at.info[0].value
