"""The NVML collector through the real nvidia-ml-py ctypes path, against a stand-in
libnvidia-ml.so.1 compiled from tests/nvml_stub (scripted values and failures)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.base import Snapshot
from collectors.nvml import NvmlCollector
from collectors.nvml_fields import error_name
from collectors.process_tree import VllmProcessFinder
from tests.nvml_stub import stub

pytestmark = pytest.mark.integration  # compiles the stand-in libnvidia-ml with gcc
nvml_lib = stub.nvml_lib  # fixtures: the compiled stand-in library, and its script writer
script = stub.script


def samples(snap: Snapshot) -> dict[tuple[str, frozenset], float]:
    """The snapshot's exposition, parsed back: (sample name, labels) -> value."""

    class _One:
        def collect(self):
            return snap.families

    reg = CollectorRegistry()
    reg.register(_One())
    text = generate_latest(reg).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(found: dict, name: str, **labels) -> float | None:
    """The one sample of `name` whose labels include `labels`, or None if there is none."""
    hits = [v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls]
    assert len(hits) <= 1, f"{name} {labels}: {len(hits)} samples"
    return hits[0] if hits else None


def test_stub_gpus_exposed_with_otel_names_and_units(nvml_lib, script):
    me = os.getpid()
    script(2, [f"gpu 0 proc {me} 1073741824", "gpu 0 proc 1 2048"])
    c = NvmlCollector(library=str(nvml_lib), vllm=VllmProcessFinder(pid=me))
    found = samples(c.collect())
    g0 = {"gpu": "0", "hw_model": "NVIDIA A100-SXM4-80GB", "pci_bus_id": "00000000:07:00.0"}
    assert value(found, "hw_gpu_utilization_ratio", **g0) == 0.75
    assert value(found, "inferwatch_gpu_memory_controller_utilization_ratio", **g0) == 0.40
    assert value(found, "hw_gpu_memory_usage_bytes", **g0) == 20 * 2**30
    assert value(found, "hw_gpu_memory_limit_bytes", **g0) == 80 * 2**30
    assert value(found, "inferwatch_gpu_memory_free_bytes", **g0) == 59 * 2**30
    assert value(found, "hw_gpu_power_draw_watts", **g0) == 250.0
    assert value(found, "hw_gpu_energy_consumed_joules_total", **g0) == 1000.0
    assert value(found, "hw_gpu_temperature_celsius", **g0) == 61.0
    assert value(found, "inferwatch_gpu_clock_hertz", clock="sm", **g0) == 1410e6
    assert value(found, "inferwatch_gpu_clock_hertz", clock="memory", **g0) == 1593e6
    assert value(found, "inferwatch_gpu_clock_event_reason", reason="sw_power_cap", **g0) == 1
    assert value(found, "inferwatch_gpu_clock_event_reason", reason="gpu_idle", **g0) == 0
    proc = "inferwatch_gpu_process_memory_usage_bytes"
    assert value(found, proc, pid=str(me), vllm="true", **g0) == 2**30
    assert value(found, proc, pid="1", vllm="false", **g0) == 2048
    assert value(found, "inferwatch_gpu_up", gpu="1", hw_model="NVIDIA H100 80GB HBM3") == 1
    assert value(found, "hw_gpu_utilization_ratio", gpu="1") == 0.75


def test_unsupported_field_degrades_that_field_only_and_is_counted_once(nvml_lib, script):
    script(2, ["gpu 1 fail power 3"])
    c = NvmlCollector(library=str(nvml_lib))
    c.collect()
    found = samples(c.collect())
    assert value(found, "hw_gpu_power_draw_watts", gpu="1") is None
    assert value(found, "hw_gpu_power_draw_watts", gpu="0") == 250.0
    assert value(found, "hw_gpu_temperature_celsius", gpu="1") == 61.0  # later fields still read
    errors = "inferwatch_nvml_errors_total"
    assert value(found, errors, gpu="1", field="power", error="not_supported") == 1


def test_gpu_lost_at_run_time_degrades_that_gpu_only(nvml_lib, script):
    script(3)
    c = NvmlCollector(library=str(nvml_lib))
    c.collect()
    script(3, ["gpu 1 fail all 15"])  # then NVML_ERROR_GPU_IS_LOST on every call to GPU 1
    c.collect()
    snap = c.collect()
    found = samples(snap)
    assert value(found, "inferwatch_gpu_up", gpu="1") == 0
    assert value(found, "inferwatch_gpu_up", gpu="0") == 1
    assert value(found, "inferwatch_gpu_up", gpu="2") == 1
    assert value(found, "hw_gpu_utilization_ratio", gpu="1") is None
    assert value(found, "hw_gpu_utilization_ratio", gpu="2") == 0.75
    # one error per tick: the first failing call stops that GPU's reading
    lost = value(found, "inferwatch_nvml_errors_total", gpu="1", error="gpu_is_lost")
    assert lost == 2
    assert {d.device_id for d in snap.devices} == {
        "gpu:GPU-00000000-0000-4000-8000-000000000000",
        "gpu:GPU-00000002-0000-4000-8000-000000000000",
    }


def test_gpu_lost_at_start_is_skipped_and_counted(nvml_lib, script):
    script(2, ["gpu 0 fail all 15"])
    found = samples(NvmlCollector(library=str(nvml_lib)).collect())
    assert value(found, "inferwatch_gpu_up", gpu="0") is None
    assert value(found, "inferwatch_gpu_up", gpu="1") == 1
    assert value(found, "inferwatch_nvml_errors_total", gpu="0", field="identity") == 1


def test_xid_events_counted_once_each(nvml_lib, script):
    script(2, ["gpu 1 xid 79", "gpu 1 xid 79", "gpu 1 xid 48"])
    c = NvmlCollector(library=str(nvml_lib), dcgm_compat=True, hostname="h")
    c.collect()
    found = samples(c.collect())
    assert value(found, "hw_errors_total", gpu="1", hw_type="gpu", error_type="xid_79") == 2
    assert value(found, "hw_errors_total", gpu="1", error_type="xid_48") == 1
    assert value(found, "hw_errors_total", gpu="0", error_type="xid_79") is None
    assert value(found, "DCGM_FI_DEV_XID_ERRORS", gpu="1") == 48
    assert value(found, "DCGM_FI_DEV_XID_ERRORS", gpu="0") == 0


def test_dcgm_names_units_and_labels(nvml_lib, script):
    script(1)
    found = samples(NvmlCollector(library=str(nvml_lib), dcgm_compat=True, hostname="h").collect())
    labels = {
        "gpu": "0",
        "UUID": "GPU-00000000-0000-4000-8000-000000000000",
        "pci_bus_id": "00000000:07:00.0",
        "device": "nvidia0",
        "modelName": "NVIDIA A100-SXM4-80GB",
        "Hostname": "h",
    }
    assert value(found, "DCGM_FI_DEV_GPU_UTIL", **labels) == 75
    assert value(found, "DCGM_FI_DEV_MEM_COPY_UTIL", **labels) == 40
    assert value(found, "DCGM_FI_DEV_FB_USED", **labels) == 20 * 1024
    assert value(found, "DCGM_FI_DEV_FB_FREE", **labels) == 59 * 1024
    assert value(found, "DCGM_FI_DEV_POWER_USAGE", **labels) == 250
    assert value(found, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", **labels) == 1_000_000
    assert value(found, "DCGM_FI_DEV_GPU_TEMP", **labels) == 61
    assert value(found, "DCGM_FI_DEV_SM_CLOCK", **labels) == 1410
    assert value(found, "DCGM_FI_DEV_MEM_CLOCK", **labels) == 1593


def test_dcgm_names_absent_without_the_switch(nvml_lib, script):
    script(1)
    found = samples(NvmlCollector(library=str(nvml_lib)).collect())
    assert not [n for n, _ in found if n.startswith("DCGM_")]


def test_interval_joules_from_energy_counter(nvml_lib, script):
    script(2, energy=1_000_000, util="50 10")
    c = NvmlCollector(library=str(nvml_lib))
    assert c.collect().devices == ()  # the first tick only sets the start
    script(2, energy=1_005_500, util="50 10")
    devices = {d.device_id: d for d in c.collect().devices}
    d = devices["gpu:GPU-00000000-0000-4000-8000-000000000000"]
    assert d.joules == pytest.approx(5.5)
    assert d.busy_device_seconds == pytest.approx(0.5 * d.wall_seconds)
    assert d.wall_seconds == (d.end_ns - d.start_ns) / 1e9 > 0
    assert d.device_type == "NVIDIA A100-SXM4-80GB" and d.units == 1


def test_interval_joules_from_power_without_energy_counter(nvml_lib, script):
    script(1, ["gpu 0 fail energy 3"], power=200_000)
    c = NvmlCollector(library=str(nvml_lib))
    c.collect()
    script(1, ["gpu 0 fail energy 3"], power=300_000)
    (d,) = c.collect().devices
    assert d.joules == pytest.approx(250.0 * d.wall_seconds)  # mean power x time


def test_driver_not_loaded_is_no_data_not_failure(nvml_lib, script):
    script(2, ["init_error 9"])
    snap = NvmlCollector(library=str(nvml_lib)).collect()
    assert snap.no_data and snap.families == () and snap.devices == ()


def test_no_gpus_is_no_data(nvml_lib, script):
    script(0)
    assert NvmlCollector(library=str(nvml_lib)).collect().no_data


def test_no_library_is_no_data():
    # In a fresh process: pynvml keeps the first library it loaded for the process's life.
    code = "from collectors.nvml import NvmlCollector; print(NvmlCollector().collect().no_data)"
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "True"


def test_error_names_are_short_and_bounded():
    import pynvml

    assert error_name(pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)) == "gpu_is_lost"
    assert error_name(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)) == "not_supported"
    assert error_name(pynvml.NVMLError(12345)) == "code_12345"


def test_pynvml_own_loader_finds_the_library_on_the_loader_path(nvml_lib, script):
    # No `library=`: pynvml's CDLL("libnvidia-ml.so.1") finds it as on a real host.
    path = script(2)
    code = (
        "from collectors.nvml import NvmlCollector\n"
        "c = NvmlCollector()\n"
        "first, second = c.collect(), c.collect()\n"
        "print(first.no_data, len(first.families) > 0, len(second.devices))\n"
    )
    env = {**os.environ, "LD_LIBRARY_PATH": str(nvml_lib.parent), "NVML_STUB_CONFIG": str(path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False True 2"  # intervals from the second tick on


def test_shared_gpu_busy_time_is_vllm_share_of_the_work(nvml_lib, script):
    me = os.getpid()  # stands for the vLLM server; pid 1 for another server on the same GPU
    procs = [f"gpu 0 proc {me} 1073741824", "gpu 0 proc 1 2048"]
    shares = [f"gpu 0 putil {me} 30", "gpu 0 putil 1 10"]
    script(2, procs + shares, util="80 10")
    c = NvmlCollector(library=str(nvml_lib), vllm=VllmProcessFinder(pid=me))
    c.collect()
    snap = c.collect()
    shared = next(d for d in snap.devices if d.device_id.startswith("gpu:GPU-00000000"))
    alone = next(d for d in snap.devices if d.device_id.startswith("gpu:GPU-00000001"))
    assert shared.busy_device_seconds == pytest.approx(0.8 * 0.75 * shared.wall_seconds)
    assert alone.busy_device_seconds == pytest.approx(0.8 * alone.wall_seconds)  # not shared
    found = samples(snap)
    ratio = "inferwatch_gpu_process_utilization_ratio"
    assert value(found, ratio, gpu="0", pid=str(me), vllm="true") == 0.30
    assert value(found, ratio, gpu="0", pid="1", vllm="false") == 0.10


def test_shared_gpu_without_process_samples_counts_the_whole_gpu(nvml_lib, script):
    me = os.getpid()
    script(1, [f"gpu 0 proc {me} 1024", "gpu 0 proc 1 2048", "gpu 0 fail putil 3"], util="80 10")
    c = NvmlCollector(library=str(nvml_lib), vllm=VllmProcessFinder(pid=me))
    c.collect()
    snap = c.collect()
    (d,) = snap.devices
    assert d.busy_device_seconds == pytest.approx(0.8 * d.wall_seconds)
    errors = "inferwatch_nvml_errors_total"
    assert value(samples(snap), errors, field="process_utilization", error="not_supported") == 1
