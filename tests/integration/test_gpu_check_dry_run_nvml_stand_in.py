"""bench/gpu_check.sh --dry-run end to end, with the NVML stand-in (tests/nvml_stub) and a
stand-in nvidia-smi (bench/gpu_fake_smi.py) reading the same stand-in: the tiny model built,
bench/gpu_server.py generating on the CPU, the agent in front of it, 30 s of load, paired
samples, and the report. What a real GPU would show is not tested here; that the pipeline
runs, pairs the right series and accounts every request is."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]
QUANTITY_ROW = re.compile(
    r"^\| (?P<name>[a-zA-Z ]+) \| (?P<unit>\S+) \| (?P<n>\d+) \|.*\| (?P<verdict>agrees|DIFFERS|NO DATA) \|$",
    re.M,
)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    pytest.importorskip("transformers")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the stand-in NVML library")
    out = tmp_path_factory.mktemp("gpu-check")
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("OUT", None)
    res = subprocess.run(
        [
            "bash",
            "bench/gpu_check.sh",
            "--dry-run",
            "--duration",
            "30",
            "--interval",
            "5",
            "--concurrency",
            "4",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, res


def test_every_file_comes_back(dry_run):
    out, _ = dry_run
    names = {p.name for p in out.iterdir()}
    want = {
        "gpu_report.md",
        "gpu_samples.jsonl",
        "gpu_pairs.csv",
        "gpu_load.json",
        "gpu_run.json",
        "agent.log",
        "server.log",
    }
    assert want <= names and len(names) <= 7  # with the tee'd log: the tool's 8 files


def test_report_names_the_card_and_judges_each_quantity(dry_run):
    out, _ = dry_run
    report = (out / "gpu_report.md").read_text()
    assert report.startswith("# GPU check: NVIDIA H100 80GB HBM3 (stand-in) (DRY RUN")
    samples = len((out / "gpu_samples.jsonl").read_text().splitlines())
    rows = {m["name"]: m for m in QUANTITY_ROW.finditer(report)}
    assert list(rows) == [
        "utilisation",
        "memory used",
        "memory total",
        "power",
        "energy",
        "temperature",
        "SM clock",
        "memory clock",
    ]
    assert all(int(m["n"]) == samples >= 6 for m in rows.values())  # every sample paired
    # Constant on the stand-in, so read the same by both: units converted right.
    assert "| memory total | MiB | " in report and "| 81,920.0 | 81,920.0 | 0.0 | 0.0 |" in report
    assert rows["memory clock"]["verdict"] == "agrees"
    assert rows["memory total"]["verdict"] == "agrees"


def test_server_process_memory_is_seen_both_ways(dry_run):
    out, _ = dry_run
    run = json.loads((out / "gpu_run.json").read_text())
    report = (out / "gpu_report.md").read_text()
    samples = len((out / "gpu_samples.jsonl").read_text().splitlines())
    assert f"Server pid {run['server_pid']}: in {samples} of {samples} samples" in report
    assert "the agent's vllm label: true." in report


def test_every_request_is_costed_and_the_costs_add_up(dry_run):
    out, _ = dry_run
    load = json.loads((out / "gpu_load.json").read_text())
    report = (out / "gpu_report.md").read_text()
    assert load["outcomes"] == {"ok": load["sent"]} and load["sent"] > 0
    sent = load["sent"]
    assert (
        f"Records in the store: {sent} ({{'final': {sent}}}); with a final cost: {sent}." in report
    )
    energy = float(re.search(r"x the price per kWh = \S+: ratio ([\d.]+)", report)[1])
    assert 0.9 < energy < 1.1  # the stand-in's counter x price, as the agent metered it
    shared = float(re.search(r"\(all devices\): ratio ([\d.]+); records still held 0", report)[1])
    assert shared == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_wheels.sh"])
def test_shell_scripts_explain_themselves(script):
    res = subprocess.run(
        ["bash", f"bench/{script}", "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.startswith(f"usage: bash bench/{script}")
