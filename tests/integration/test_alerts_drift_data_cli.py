"""`inferwatch drift` end to end on a real store (written by the agent's writer), run as
the console command in a subprocess: drift, no drift, not enough data, bad input, a
missing data folder, and snapshots."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson
import pytest

from tests.store_records import make_record
from tests.unit.test_alerts_drift_data_source import write_store

pytestmark = pytest.mark.integration
T0 = 1_700_000_000.0


def history(tmp_path, shift: float = 1.0, n: int = 400, current_n: int = 400) -> None:
    """A reference hour [T0, T0+3600) and a current hour after it; completion tokens of
    the current hour multiplied by `shift`."""
    rng = np.random.default_rng(1)
    records = []
    for hour, count, scale in ((0, n, 1.0), (1, current_n, shift)):
        times = np.sort(rng.uniform(0, 3600, count)) + T0 + 3600 * hour
        tokens = rng.normal(200, 30, count) * scale
        for i, (t, k) in enumerate(zip(times, tokens, strict=True)):
            records.append(
                make_record(
                    i, wall_time=float(t), completion_tokens=int(k), tenant="t", prompt_tokens=50
                )
            )
    write_store(tmp_path, records)


def drift(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "agent.cli", "drift", "--data-dir", str(tmp_path), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


WINDOWS = [
    "--reference",
    f"{T0:.0f}..{T0 + 3600:.0f}",
    "--current",
    f"{T0 + 3600:.0f}..{T0 + 7200:.0f}",
]


def test_a_shifted_current_window_is_drift_exit_1_naming_the_feature(tmp_path):
    history(tmp_path, shift=1.5)
    out = drift(tmp_path, *WINDOWS, "--json")
    assert out.returncode == 1, out.stderr
    report = orjson.loads(out.stdout)
    drifted = {(r["feature"], r["segment"]) for r in report["rows"] if r["drifted"]}
    assert ("completion_tokens", "all") in drifted and report["drifted"] is True
    assert report["current"]["rows"] == 400 and report["reference"]["rows"] == 400


def test_an_unchanged_window_exits_0_and_prints_the_table(tmp_path):
    history(tmp_path, shift=1.0)
    out = drift(tmp_path, *WINDOWS)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "completion_tokens" in out.stdout and "statistic" in out.stdout
    assert "dataset drift [all]: no" in out.stdout


def test_a_window_of_five_requests_says_not_enough_data(tmp_path):
    history(tmp_path, current_n=5)
    out = drift(tmp_path, *WINDOWS)
    assert out.returncode == 0, out.stderr
    assert "not enough data: the current window has 5 requests" in out.stdout
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("all ") and "tokens" in ln]
    assert lines and all("not enough data" in ln for ln in lines)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("yesterday..today", "bad time 'yesterday'"),
        ("2024-05-02..2024-05-01", "START must be before END"),
        ("1700000000", "expected START..END"),
    ],
)
def test_a_bad_reference_says_why_and_exits_2(tmp_path, given, said):
    history(tmp_path, n=10, current_n=10)
    out = drift(tmp_path, "--reference", given)
    assert out.returncode == 2 and said in out.stderr


def test_a_missing_data_dir_says_so_and_exits_2(tmp_path):
    out = drift(tmp_path / "nowhere", "--window", "1h")
    assert out.returncode == 2
    assert "no request store at" in out.stderr and "nowhere" in out.stderr


def test_a_snapshot_is_saved_listed_compared_with_and_deleted(tmp_path):
    history(tmp_path, shift=1.5)
    base = [sys.executable, "-m", "agent.cli", "drift", "snapshot"]
    where = ["--data-dir", str(tmp_path)]

    def snap(*args):
        return subprocess.run([*base, *args, *where], capture_output=True, text=True, timeout=60)

    saved = snap("base", "--reference", f"{T0:.0f}..{T0 + 3600:.0f}")
    assert saved.returncode == 0 and "saved base: 400 requests" in saved.stdout
    assert "base: 400 requests" in snap("--list").stdout
    out = drift(tmp_path, "--reference-snapshot", "base", "--current", WINDOWS[3], "--json")
    assert out.returncode == 1 and orjson.loads(out.stdout)["reference"]["snapshot"] == "base"
    assert snap("base", "--delete").returncode == 0
    gone = drift(tmp_path, "--reference-snapshot", "base", "--current", WINDOWS[3])
    assert gone.returncode == 2 and "no drift snapshot named 'base'" in gone.stderr
