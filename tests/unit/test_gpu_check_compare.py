"""bench/gpu_compare.py's parsing of nvidia-smi's CSV and of the agent's /metrics, and its
unit conversions (MiB vs bytes, mJ vs J, MHz vs Hz, % vs ratio, W), on lines as nvidia-smi
prints them; the stand-in nvidia-smi of the dry run agrees with the NVML stand-in's script."""

from __future__ import annotations

import sqlite3

import pytest

from bench import gpu_fake_smi
from bench.gpu_compare import judge, processes
from bench.gpu_cost import Prices, conservation, energy_cost, request_costs
from bench.gpu_fake import FakeGpu, write
from bench.gpu_parse import (
    GPU_FIELDS,
    MIB,
    QUANTITIES,
    agent_processes,
    agent_value,
    parse_agent,
    parse_smi_apps,
    parse_smi_gpu,
    smi_number,
)

pytestmark = pytest.mark.unit
Q = {q.name: q for q in QUANTITIES}

# nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total,power.draw,
#   total_energy_consumption,temperature.gpu,clocks.sm,clocks.mem --format=csv,noheader,nounits
H100_LINE = "37, 1024, 81559, 71.56, 123456789, 34, 1980, 2619"
NO_POWER_LINE = "0, 0, 81559, [N/A], [N/A], 30, 345, 2619"
WITH_UNITS_LINE = "37 %, 1024 MiB, 81559 MiB, 71.56 W, 123456789 mJ, 34, 1980 MHz, 2619 MHz"
APPS = "pid, used_gpu_memory [MiB]\n4242, 1234 MiB\n777, [N/A]\n"

PAGE = """# HELP hw_gpu_memory_usage_bytes GPU memory used (hw.gpu.memory.usage).
# TYPE hw_gpu_memory_usage_bytes gauge
hw_gpu_memory_usage_bytes{gpu="0",hw_id="h:GPU-a",hw_model="NVIDIA H100 80GB HBM3",pci_bus_id="x"} 1.073741824e+09
hw_gpu_memory_usage_bytes{gpu="1",hw_id="h:GPU-b",hw_model="NVIDIA H100 80GB HBM3",pci_bus_id="y"} 5.0
# TYPE hw_gpu_energy_consumed_joules_total counter
hw_gpu_energy_consumed_joules_total{gpu="0",hw_id="h:GPU-a",hw_model="m",pci_bus_id="x"} 123456.789
# TYPE inferwatch_gpu_clock_hertz gauge
inferwatch_gpu_clock_hertz{clock="sm",gpu="0",hw_id="h:GPU-a",hw_model="m",pci_bus_id="x"} 1.98e+09
inferwatch_gpu_clock_hertz{clock="memory",gpu="0",hw_id="h:GPU-a",hw_model="m",pci_bus_id="x"} 2.619e+09
# TYPE inferwatch_gpu_process_memory_usage_bytes gauge
inferwatch_gpu_process_memory_usage_bytes{gpu="0",hw_id="h:GPU-a",hw_model="m",pci_bus_id="x",pid="4242",vllm="true"} 1.293942784e+09
"""


def test_smi_numbers_drop_units_and_missing_values():
    assert smi_number(" 1024 MiB") == 1024
    assert smi_number("71.56 W") == 71.56
    assert smi_number("[N/A]") is None and smi_number("[Not Supported]") is None
    with pytest.raises(ValueError, match="not a number"):
        smi_number("lots")


def test_gpu_line_in_si_units():
    v = parse_smi_gpu(H100_LINE)
    assert v["utilization.gpu"] == pytest.approx(0.37)
    assert v["memory.used"] == 1024 * 2**20  # MiB, not MB
    assert v["memory.total"] == 81559 * 2**20
    assert v["power.draw"] == pytest.approx(71.56)  # already watts
    assert v["total_energy_consumption"] == pytest.approx(123456.789)  # mJ -> J
    assert v["temperature.gpu"] == 34
    assert v["clocks.sm"] == pytest.approx(1.98e9)  # MHz -> Hz
    assert v["clocks.mem"] == pytest.approx(2.619e9)


def test_units_left_on_give_the_same_values():
    assert parse_smi_gpu(WITH_UNITS_LINE) == parse_smi_gpu(H100_LINE)


def test_na_fields_are_none_not_zero():
    v = parse_smi_gpu(NO_POWER_LINE)
    assert v["power.draw"] is None and v["total_energy_consumption"] is None
    assert v["utilization.gpu"] == 0.0


def test_bad_answers_are_refused():
    with pytest.raises(ValueError, match="expected 8 fields"):
        parse_smi_gpu("37, 1024")
    with pytest.raises(ValueError, match="no reading"):
        parse_smi_gpu("ERROR 9: NVIDIA-SMI has failed")


def test_compute_apps_in_bytes():
    assert parse_smi_apps(APPS) == {4242: 1234 * MIB, 777: None}
    assert parse_smi_apps("pid, used_gpu_memory [MiB]\n") == {}
    assert parse_smi_apps("No running processes found\n") == {}


def test_agent_page_gpu_zero_by_catalogue_names():
    values = parse_agent(PAGE)
    assert agent_value(values, Q["memory used"]) == 2**30  # gpu 1's 5.0 is not taken
    assert agent_value(values, Q["energy"]) == pytest.approx(123456.789)
    assert agent_value(values, Q["SM clock"]) == pytest.approx(1.98e9)
    assert agent_value(values, Q["memory clock"]) == pytest.approx(2.619e9)
    assert agent_value(values, Q["power"]) is None
    assert agent_processes(values) == {4242: (1293942784.0, "true")}


def sample(smi_line: str, page: str, apps: str = APPS, t: float = 0.0) -> dict:
    return {
        "t": t,
        "took_s": 0.1,
        "smi": parse_smi_gpu(smi_line),
        "apps": parse_smi_apps(apps),
        "agent": parse_agent(page),
    }


def test_same_reading_in_both_units_agrees():
    rows = {r["q"].name: r for r in (judge(q, [sample(H100_LINE, PAGE)], 1.0) for q in QUANTITIES)}
    assert rows["memory used"]["median_diff"] == 0 and rows["memory used"]["verdict"] == "agrees"
    assert rows["energy"]["median_diff"] == pytest.approx(0, abs=1e-6)
    assert rows["SM clock"]["smi_median"] == pytest.approx(1980)  # shown in MHz
    assert rows["power"]["verdict"] == "NO DATA"  # the page has no power sample


def test_a_unit_mixed_up_differs():
    # The agent's memory in MB (10^6) where nvidia-smi means MiB: 1,073.7 against 1,024.
    page = PAGE.replace("1.073741824e+09", "1.024e+09")
    row = judge(Q["memory used"], [sample("37, 1074, 81559, 71.56, 1, 34, 1980, 2619", page)], 1)
    assert row["median_diff"] == pytest.approx(1074 - 1024e6 / MIB)
    # Energy in mJ on the agent's side would be 1000x: far outside the tolerance.
    page = PAGE.replace("123456.789", "123456789")
    row = judge(Q["energy"], [sample(H100_LINE, page)], 1.0)
    assert row["verdict"] == "DIFFERS" and row["tol"] == pytest.approx(71.56 * 2.1)


def test_server_process_memory_both_ways():
    got = processes([sample(H100_LINE, PAGE)], 4242)
    assert got["n"] == 1 and got["vllm"] == ["true"]
    assert got["median_diff"] == pytest.approx(1234 - 1293942784 / MIB)
    assert processes([sample(H100_LINE, PAGE)], 9)["n"] == 0


def cost_values(metered: float, seconds: float, shared: float, idle: float) -> dict:
    dev = (("currency", "USD"), ("device_type", "NVIDIA H100 80GB HBM3"))
    return {
        ("inferwatch_cost_metered_total", dev): metered,
        ("inferwatch_cost_device_seconds_total", (dev[1],)): seconds,
        ("inferwatch_cost_requests_total", (("tenant", "a"),)): shared,
        ("inferwatch_cost_idle_total", dev): idle,
        ("inferwatch_cost_records_held", ()): 0.0,
    }


def test_energy_part_against_measured_joules_times_price():
    prices = Prices("NVIDIA H100 80GB HBM3", per_hour=3.6, per_kwh=0.36)
    # 100 GPU-seconds at 3.6/h = 0.1; 36,000 J at 0.36/kWh = 0.0036 (1 kWh is 3.6e6 J).
    got = energy_cost(cost_values(0, 0, 0, 0), cost_values(0.1036, 100, 0, 0), 36_000, prices)
    assert got["time_part"] == pytest.approx(0.1)
    assert got["expected_energy_cost"] == pytest.approx(0.0036)
    assert got["ratio"] == pytest.approx(1.0)
    other = Prices("NVIDIA A100", 3.6, 0.36)  # another device type: nothing metered
    assert energy_cost({}, cost_values(0.1036, 100, 0, 0), 36_000, other)["metered"] == 0


def test_conservation_adds_requests_and_idle():
    got = conservation(cost_values(1.0, 10, 0.75, 0.25))
    assert got["ratio"] == pytest.approx(1.0) and got["held"] == 0


def test_request_costs_from_the_store(tmp_path):
    db = tmp_path / "requests.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE requests (cost_amount REAL, cost_joules REAL, "
            "cost_device_seconds REAL, cost_status TEXT)"
        )
        rows = [(float(i), 10.0 * i, 0.1, "final") for i in range(1, 101)]
        conn.executemany("INSERT INTO requests VALUES (?, ?, ?, ?)", [*rows, (None, 0, 0, "lost")])
    got = request_costs(db)
    assert got["records"] == 101 and got["final"] == 100
    assert got["statuses"] == {"final": 100, "lost": 1}
    assert got["mean"] == pytest.approx(50.5) and got["p50"] == pytest.approx(50.5)
    assert got["p99"] == pytest.approx(99.01) and got["joules_mean"] == pytest.approx(505)


def test_stand_in_smi_prints_the_nvml_stand_ins_values(tmp_path, monkeypatch, capsys):
    gpu = FakeGpu(pid=4242)
    gpu.advance(3.0)
    script = tmp_path / "nvml.txt"
    write(script, gpu.lines())
    monkeypatch.setenv("NVML_STUB_CONFIG", str(script))
    query = "--query-gpu=" + ",".join(GPU_FIELDS)
    assert gpu_fake_smi.main([query, "--format=csv,noheader,nounits"]) == 0
    got = parse_smi_gpu(capsys.readouterr().out)
    assert got["power.draw"] == pytest.approx(gpu.power_mw() / 1000)
    assert got["total_energy_consumption"] == pytest.approx(int(gpu.energy_mj) / 1000)
    assert got["utilization.gpu"] == pytest.approx(gpu.util() / 100)
    assert gpu_fake_smi.main(["--query-compute-apps=pid,used_memory", "--format=csv"]) == 0
    assert parse_smi_apps(capsys.readouterr().out) == {4242: gpu.proc_bytes()}
