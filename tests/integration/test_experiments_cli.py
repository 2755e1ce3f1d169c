"""`inferwatch experiments` run as the console command in a subprocess on real stores: the
report table with the canary's events, --json, the arms from the config or the store, the
list, and bad input (exit 2 with one line)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent.store.experiments import ExperimentLog
from tests.experiment_store import T0, arm, started, write_store

pytestmark = pytest.mark.integration


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "agent.cli", "experiments", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def canary(tmp_path_factory):
    """A canary whose variant is slower, costlier and failing, rolled back at step 1."""
    path = tmp_path_factory.mktemp("canary") / "s.db"
    variant = arm(600, "b", seed=2, slower=1.3, costlier=1.2, error_rate=0.06)
    write_store(path, arm(600, "a", seed=1) + variant)
    started(path, "exp", "canary", "a", "b")
    log = ExperimentLog(path)
    log.add("exp", "step", step=1, weight=5.0, at=T0 + 60)
    log.add("exp", "rolled_back", step=1, weight=0.0, at=T0 + 120, detail={"reason": "errors"})
    return path


def test_report_prints_every_metric_and_the_canarys_events(canary):
    res = run("report", "exp", "--store", str(canary))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("experiment exp (canary): control a (600 requests) vs variant b")
    row = next(ln.split() for ln in lines if ln.startswith("error_rate "))
    assert row[1] == "0.00%" and row[-1] == "worse" and row[-2] == "<0.001"
    latency = next(ln.split() for ln in lines if ln.startswith("latency_s "))
    assert latency[-1] == "worse" and latency[3].startswith("+")
    events = lines[lines.index("events:") + 1 :]
    assert [e.split()[1] for e in events] == ["started", "step", "rolled_back"]
    assert events[2].endswith("errors")


def test_report_json_parses_with_the_documented_shape(canary):
    res = run("report", "exp", "--store", str(canary), "--json")
    doc = json.loads(res.stdout)
    assert (doc["kind"], doc["control"], doc["variant"]) == ("canary", "a", "b")
    assert doc["n"] == {"control": 600, "variant": 600, "pairs": None}
    cost = next(m for m in doc["metrics"] if m["metric"] == "cost_per_request")
    assert cost["verdict"] == "worse" and cost["effect"]["ci"][0] > 0
    assert "latency_s" in doc["summary"]["worse"]
    assert [e["event"] for e in doc["events"]] == ["started", "step", "rolled_back"]


def test_a_window_after_the_last_request_has_not_enough_data(canary):
    res = run("report", "exp", "--store", str(canary), "--since", str(T0 + 10**6), "--json")
    doc = json.loads(res.stdout)
    assert doc["window"]["since"] == T0 + 10**6 and doc["n"]["control"] == 0
    assert {m["verdict"] for m in doc["metrics"]} == {"not_enough_data"}


def test_the_config_names_the_arms_when_there_is_no_started_event(tmp_path):
    path = write_store(tmp_path / "s.db", arm(40, "new", seed=1) + arm(40, "old", seed=2))
    ambiguous = run("report", "exp", "--store", str(path))
    assert ambiguous.returncode == 2 and "pass --control NAME" in ambiguous.stderr
    (tmp_path / "c.yaml").write_text(
        "upstreams: [{name: old, url: 'http://127.0.0.1:9', weight: 50},"
        " {name: new, url: 'http://127.0.0.1:9', weight: 50}]\n"
        "experiments: [{name: exp, kind: split, control: old, variant: new}]\n"
    )
    doc = json.loads(
        run(
            "report", "exp", "--store", str(path), "--config", str(tmp_path / "c.yaml"), "--json"
        ).stdout
    )
    assert (doc["kind"], doc["control"], doc["variant"]) == ("split", "old", "new")
    flagged = json.loads(
        run("report", "exp", "--store", str(path), "--control", "new", "--json").stdout
    )
    assert (flagged["control"], flagged["variant"]) == ("new", "old")


def test_list_shows_each_experiments_arms_and_counts(canary):
    rows = json.loads(run("list", "--store", str(canary), "--json").stdout)
    assert [(r["experiment"], r["variant"], r["requests"]) for r in rows] == [
        ("exp", "a", 600),
        ("exp", "b", 600),
    ]
    table = run("list", "--store", str(canary)).stdout.splitlines()
    assert table[0].split()[:3] == ["experiment", "upstream", "requests"]
    assert table[1].split()[:3] == ["exp", "a", "600"]


def test_bad_input_exits_2_with_one_line(canary, tmp_path):
    unknown = run("report", "nope", "--store", str(canary))
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert (
        unknown.stderr == "inferwatch experiments: no experiment 'nope' in the store (known: exp)\n"
    )
    missing = run("list", "--store", str(tmp_path / "none.db"))
    assert missing.returncode == 2 and "no store at" in missing.stderr
    bad = run("report", "exp", "--store", str(canary), "--last", "soon")
    assert bad.returncode == 2 and "bad duration 'soon'" in bad.stderr


def test_help_explains_every_option():
    out = run("report", "--help").stdout
    for option in ("--store", "--config", "--since", "--last", "--control", "--variant", "--json"):
        assert option in out
