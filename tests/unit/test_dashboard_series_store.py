"""Snapshots written by the agent's sampler, read back through StoreSeries: a gauge as its
last value in each step, a counter as a per-second rate (a reset counted from zero), only
the chosen families, old snapshots pruned, and the store never written by the reader."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily

from agent.store.config import StoreConfig
from agent.store.samples import Sampler, attach_samples
from dashboards.data.api import DataUnavailable
from dashboards.data.series_store import StoreSeries

pytestmark = pytest.mark.unit

GPU = ["gpu", "hw_id", "hw_model", "pci_bus_id"]
T0 = 1_800_000_000  # a multiple of 60: steps below start at T0


def families(temp: float, energy: float) -> list:
    temperature = GaugeMetricFamily("hw_gpu_temperature_celsius", "t", labels=GPU)
    temperature.add_metric(["0", "GPU-0", "NVIDIA L4", "00:07"], temp)
    joules = CounterMetricFamily("hw_gpu_energy_consumed_joules", "e", labels=GPU)
    joules.add_metric(["0", "GPU-0", "NVIDIA L4", "00:07"], energy)
    other = GaugeMetricFamily("process_open_fds", "not chosen")
    other.add_metric([], 12)
    return [temperature, joules, other]


def sampler(tmp_path, script: list, **over) -> Sampler:
    """A sampler whose source yields, on each call, the next (temp, energy) of `script`."""
    it = iter(script)
    config = StoreConfig(dir=tmp_path, snapshot_interval_s=10, **over)
    return Sampler(config, lambda: families(*next(it)))


def write(tmp_path, at_values: list[tuple[float, float, float]], **over) -> StoreSeries:
    s = sampler(tmp_path, [(temp, energy) for _, temp, energy in at_values], **over)
    for at, _, _ in at_values:
        assert s.once(now=at)
    return StoreSeries(tmp_path / "requests.sqlite3")


# Snapshots every 20 s; energy +100 J/s until the driver reloads between T0+100 and
# T0+120 (counter back to 500 J), then +100 J/s again.
SNAPS = [
    (T0 + 0, 50.0, 10_000.0),
    (T0 + 20, 51.0, 12_000.0),
    (T0 + 40, 52.0, 14_000.0),
    (T0 + 60, 60.0, 16_000.0),
    (T0 + 80, 61.0, 18_000.0),
    (T0 + 100, 62.0, 20_000.0),
    (T0 + 120, 70.0, 500.0),
    (T0 + 140, 71.0, 2_500.0),
    (T0 + 160, 72.0, 4_500.0),
]


def by_name(df, name):
    return df[df["name"] == name].set_index("t")["value"].to_dict()


def test_gauge_is_the_last_value_of_each_step(tmp_path):
    df = write(tmp_path, SNAPS).series(("hw_gpu_temperature_celsius",), T0, T0 + 180, 60)
    assert by_name(df, "hw_gpu_temperature_celsius") == {
        T0 + 60: 52.0,
        T0 + 120: 62.0,
        T0 + 180: 72.0,
    }
    assert set(df["gpu"]) == {"0"} and set(df["hw_model"]) == {"NVIDIA L4"}
    assert set(df["labels"]) == {"gpu=0,hw_id=GPU-0,hw_model=NVIDIA L4,pci_bus_id=00:07"}


def test_counter_is_a_rate_and_a_reset_counts_from_zero(tmp_path):
    name = "hw_gpu_energy_consumed_joules_total"
    df = write(tmp_path, SNAPS).series((name,), T0, T0 + 180, 60)
    # T0+60: no snapshot before the range's first step (an agent started in it), so the
    # rate is from the step's own first and last: 10000 -> 14000 over 40 s. T0+120: 14000
    # -> 20000 over 60 s. T0+180: 20000 -> 4500 is a reset: 4500 J since, over 60 s.
    assert by_name(df, name) == {T0 + 60: 100.0, T0 + 120: 100.0, T0 + 180: 75.0}


def test_a_step_before_the_range_gives_the_first_rate(tmp_path):
    name = "hw_gpu_energy_consumed_joules_total"
    df = write(tmp_path, SNAPS).series((name,), T0 + 60, T0 + 120, 60)
    assert by_name(df, name) == {T0 + 120: 100.0}


def test_only_the_chosen_families_are_kept(tmp_path):
    store = write(tmp_path, SNAPS[:2])
    assert store.series(("process_open_fds",), T0, T0 + 60, 60).empty
    conn = sqlite3.connect(store.path)
    names = {n for (n,) in conn.execute("SELECT name FROM sample_series")}
    assert names == {"hw_gpu_temperature_celsius", "hw_gpu_energy_consumed_joules_total"}
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 2


def test_reading_never_writes_the_store(tmp_path):
    # The agent's sampler keeps its connection (and so the WAL) open while a dashboard reads.
    writing = sampler(tmp_path, [(temp, energy) for _, temp, energy in SNAPS] + [(73.0, 6500.0)])
    for at, _, _ in SNAPS:
        assert writing.once(now=at)
    store = StoreSeries(tmp_path / "requests.sqlite3")
    # The -shm file is WAL's shared index, which every reader updates (read marks): not data.
    files = sorted(p for p in tmp_path.iterdir() if not p.name.endswith("-shm"))
    assert [p.name for p in files] == ["requests.sqlite3", "requests.sqlite3-wal"]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in files]
    store.series(("hw_gpu_temperature_celsius",), T0, T0 + 180, 60)
    assert sorted(p for p in tmp_path.iterdir() if not p.name.endswith("-shm")) == files
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in files] == before
    assert writing.once(now=T0 + 180)  # still open, still writing


def test_one_snapshot_per_step_is_read_from_the_time_index(tmp_path):
    store = write(tmp_path, SNAPS)
    conn = sqlite3.connect(store.path)
    from dashboards.data.series_store import _PICK

    plan = " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + _PICK, (0, 1e12, 60) * 2))
    assert "COVERING INDEX samples_at" in plan, plan
    # The first and last of each of the 3 steps: 6 of 9 snapshots.
    assert len(conn.execute(_PICK, (T0, T0 + 180, 60) * 2).fetchall()) == 6


def test_old_snapshots_go_by_the_retention_age(tmp_path):
    day = 86400
    retention = {"max_age_days": 1, "check_interval_s": 60}
    store = write(
        tmp_path, [(T0, 1, 1), (T0 + day, 2, 2), (T0 + day + 61, 3, 3)], retention=retention
    )
    df = store.series(("hw_gpu_temperature_celsius",), T0 - 60, T0 + day + 120, 60)
    assert set(df["value"]) == {2.0, 3.0}


def test_a_failing_snapshot_is_counted_not_raised(tmp_path):
    config = StoreConfig(dir=tmp_path / "missing" / "dir", snapshot_interval_s=10)
    counted = []
    s = Sampler(config, lambda: [], failed=lambda: counted.append(1))
    assert not s.once(now=T0) and not s.once(now=T0 + 10)
    assert s.failures == 2 and s.written == 0
    assert len(counted) == 2  # what inferwatch_store_snapshot_failures_total counts


def test_no_store_and_no_snapshots_are_told_apart(tmp_path):
    with pytest.raises(DataUnavailable, match="no store at"):
        StoreSeries(tmp_path / "none.sqlite3").series(
            ("hw_gpu_temperature_celsius",), T0, T0 + 60, 60
        )
    sqlite3.connect(tmp_path / "old.sqlite3").execute(
        "CREATE TABLE requests (id)"
    ).connection.close()
    df = StoreSeries(tmp_path / "old.sqlite3").series(
        ("hw_gpu_temperature_celsius",), T0, T0 + 60, 60
    )
    assert df.empty and list(df.columns) == ["t", "name", "labels", "value"]


def test_snapshots_off_attaches_nothing(tmp_path):
    from agent.config import Settings
    from agent.metrics import new_registry

    class FakeAgent:
        on_startup: list = []
        on_cleanup: list = []
        instruments = new_registry()[1]

    settings = Settings(store={"dir": str(tmp_path), "snapshot_interval_s": 0})
    assert attach_samples(FakeAgent(), settings) is None
    on = Settings(store={"dir": str(tmp_path)})
    assert attach_samples(FakeAgent(), on) is not None and on.store.snapshot_interval_s == 30


def test_the_reader_connection_refuses_writes(tmp_path):
    store = write(tmp_path, SNAPS[:1])
    # No public call writes; the read-only connection itself is the property under test.
    with pytest.raises(DataUnavailable, match="readonly"), store._connect() as conn:
        conn.execute("DELETE FROM samples")


def test_a_prometheus_url_picks_prometheus_else_the_store(tmp_path):
    from dashboards.data.series import open_series

    assert (
        open_series(tmp_path / "s.sqlite3").info()
        == f"metric snapshots in the store {tmp_path / 's.sqlite3'}"
    )
    assert open_series(tmp_path, "http://prom:9090/").info() == "Prometheus at http://prom:9090"
