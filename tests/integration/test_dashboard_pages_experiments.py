"""The Experiments page in Streamlit's AppTest, on a store holding a split, a rolled-back
canary and a shadow (tests/dashboard_experiments_seed.py): the running experiment is
offered first, each experiment's verdicts, table and figures are the seeded ones, a
canary's rollback and its reason are shown, and the empty and Elasticsearch cases say
why there is nothing to show."""

from __future__ import annotations

import json

import pytest

from tests.dashboard_app import page_test, shown_text
from tests.dashboard_experiments_seed import CANARY, REASON, SHADOW, SPLIT, seed_experiments
from tests.dashboard_seed import write_store
from tests.integration.test_dashboard_pages_alerts import array

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return seed_experiments(tmp_path_factory.mktemp("experiments"))


def run(monkeypatch, seeded, experiment: str | None = None):
    params = {"experiment": experiment} if experiment else None
    flags = ("--data-dir", str(seeded.folder), "--now", str(seeded.last))
    at = page_test(monkeypatch, "experiments", *flags, params=params)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_running_split_is_offered_first_and_its_slower_variant_is_worse(monkeypatch, seeded):
    at = run(monkeypatch, seeded)
    picker = at.selectbox(key="experiment")
    assert picker.value == SPLIT and picker.options[-1].startswith(CANARY)
    text = shown_text(at)
    assert "Control: stable: 600" in text and "Variant: fast\\-v2: 600" in text
    worse = next(m.value for m in at.markdown if m.value.startswith(":red-badge[worse]"))
    assert "latency" in worse and "error rate" not in worse
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["latency", "verdict"] == "worse"
    assert table.loc["error rate", "verdict"] == "no difference"
    assert "Canary steps" not in text


def test_a_rolled_back_canary_shows_its_steps_its_rollback_and_the_gates_reason(
    monkeypatch, seeded
):
    at = run(monkeypatch, seeded, CANARY)
    text = shown_text(at)
    assert "Kind: canary" in text
    rollback = next(m.value for m in at.markdown if "Rolled back" in m.value)
    assert ":red[**Rolled back**]" in rollback and "step 2 at 5%" in rollback
    assert "over the 1\\.0\\-point margin" in rollback  # the reason, escaped as text
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["error rate", "verdict"] == "worse"
    events = at.dataframe[1].value
    assert list(events["event"]) == ["started", "step", "step", "gate", "rolled_back"]
    assert events["reason"].iloc[-1] == REASON
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    steps = next(f for f in figures if any(t.get("name") == "rolled back" for t in f["data"]))
    assert steps["data"][0]["line"]["shape"] == "hv"
    marker = next(t for t in steps["data"] if t.get("name") == "rolled back")
    assert list(array(marker["y"])) == [0.0]  # the rollback takes the share to 0


def test_a_shadow_shows_its_pairs(monkeypatch, seeded):
    at = run(monkeypatch, seeded, SHADOW)
    text = shown_text(at)
    assert "Shadow pairs" in text and "300 pairs" in text
    table = at.dataframe[0].value.set_index("metric")
    assert table.loc["paired cost", "verdict"] == "worse"


def test_a_store_without_experiments_says_so(monkeypatch, tmp_path):
    write_store(tmp_path, [])
    at = page_test(monkeypatch, "experiments", "--data-dir", str(tmp_path))
    assert not at.exception
    assert "No experiments in the store yet" in shown_text(at)


def test_under_elasticsearch_the_page_says_it_reads_the_store(monkeypatch):
    at = page_test(monkeypatch, "experiments", "--elasticsearch", "http://127.0.0.1:9")
    assert not at.exception
    assert "carry no experiment or variant" in shown_text(at)
