"""The Experiments page's data and view functions on a store written by the store's own
code (tests/dashboard_experiments_seed.py): the experiments listed running first, the arms
told apart, a canary's share over time, the comparison the CLI prints, the distributions,
and the text the table and forest plots show."""

from __future__ import annotations

import numpy as np
import pytest

from agent.config import load_settings
from alerts.experiments.arms import connect_ro, load
from alerts.experiments.report import compare
from alerts.experiments.stored import Arms, Unresolved
from dashboards.data import experiments as ex
from dashboards.data import experiments_report as er
from dashboards.data.api import DataUnavailable
from dashboards.views import experiments_effects as effects
from dashboards.views import experiments_format as ef
from tests.dashboard_experiments_seed import CANARY, SHADOW, SPLIT, STORE, seed_experiments
from tests.experiment_store import arm, write_store

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    return seed_experiments(tmp_path_factory.mktemp("experiments"))


def listed(seeded, name: str) -> ex.Listed:
    return next(x for x in ex.experiments(seeded.folder / STORE) if x.name == name)


def test_running_experiments_come_first_and_the_rolled_back_canary_last(seeded):
    found = ex.experiments(seeded.folder / STORE)
    assert [x.name for x in found][-1] == CANARY
    assert {x.name: x.state for x in found} == {
        SPLIT: "running",
        SHADOW: "running",
        CANARY: "rolled_back",
    }
    canary = listed(seeded, CANARY)
    assert {a.variant: a.requests for a in canary.arms} == {"stable": 400, "candidate": 150}


def test_no_store_is_a_plain_message_and_an_empty_store_has_no_experiments(tmp_path):
    with pytest.raises(DataUnavailable, match="no store at"):
        ex.experiments(tmp_path / STORE)
    assert ex.experiments(write_store(tmp_path / STORE, [])) == []


def test_the_arms_come_from_the_config_else_the_events_else_the_person(seeded, tmp_path):
    settings = load_settings(None)
    assert ex.arms_of(listed(seeded, CANARY), settings) == Arms(
        "canary", "stable", "candidate", "events"
    )
    path = write_store(tmp_path / STORE, arm(5, "a", seed=1) + arm(5, "b", seed=2))
    bare = ex.experiments(path)[0]  # no started event: a split the store cannot orient
    with pytest.raises(Unresolved, match="which arm is the control"):
        ex.arms_of(bare, settings)
    assert ex.arms_of(bare, settings, "b") == Arms("split", "b", "a", "store")


def test_the_canarys_share_steps_up_then_drops_to_zero_at_the_rollback(seeded):
    canary = listed(seeded, CANARY)
    steps = ex.shares(canary.events, seeded.last)
    assert list(steps["share"]) == [0.0, 1.0, 5.0, 5.0, 0.0, 0.0]
    assert list(steps["event"])[-2:] == ["rolled_back", "now"]
    reason = ex.last_reason(canary.events)
    assert reason is not None and reason["event"] == "rolled_back"
    assert "over the 1.0-point margin" in reason["detail"]["reason"]


def test_the_page_report_is_the_clis_report_with_the_arms_distributions(seeded):
    path = seeded.folder / STORE
    arms = ex.arms_of(listed(seeded, SPLIT), load_settings(None))
    page = er.build(path, SPLIT, arms, None, None)
    conn = connect_ro(path)
    try:
        cli = compare(load(conn, SPLIT, "stable", "fast-v2", kind="split")).to_json()
    finally:
        conn.close()
    assert [m["verdict"] for m in page.doc["metrics"]] == [m["verdict"] for m in cli["metrics"]]
    assert "latency_s" in page.doc["summary"]["worse"]  # the variant is 1.6 times slower
    h = page.histograms
    assert set(h["measure"]) == {"latency_s", "ttft_s", "cost"}
    per_arm = h.groupby(["measure", "arm"])["share"].sum()
    assert np.allclose(per_arm, 100.0)  # every known value in a bin, per arm
    assert page.pairs is None


def test_a_shadows_pairs_are_each_primary_beside_its_copy(seeded):
    arms = ex.arms_of(listed(seeded, SHADOW), load_settings(None))
    page = er.build(seeded.folder / STORE, SHADOW, arms, None, None)
    assert page.doc["n"]["pairs"] == 300
    cost = page.pairs[page.pairs["measure"] == "cost"]
    assert len(cost) == 300 and np.allclose(cost["variant"] / cost["control"], 1.1 * 1.3)
    latency = page.pairs[page.pairs["measure"] == "latency_s"]
    assert np.allclose(latency["variant"] / latency["control"], 1.1, rtol=1e-6)
    assert {"paired.cost", "paired.latency_s"} <= set(page.doc["summary"]["worse"])


def test_the_table_and_forest_plot_show_the_effects_in_their_units(seeded):
    arms = ex.arms_of(listed(seeded, CANARY), load_settings(None))
    doc = er.build(seeded.folder / STORE, CANARY, arms, None, None).doc
    errors = next(m for m in doc["metrics"] if m["metric"] == "error_rate")
    e = errors["effect"]
    table = effects.rows(doc, "USD").set_index("metric")
    assert table.loc["error rate", "verdict"] == "worse"
    assert table.loc["error rate", "variant"] == f"{100 * e['variant']:.2f}%"
    low, high = e["ci"]
    assert table.loc["error rate", "difference [95% CI]"] == (
        f"{100 * e['difference']:+.2f} points [{100 * low:.2f}, {100 * high:.2f}]"
    )
    forest = effects.forest_frame(doc).set_index("metric")
    assert forest.loc["error rate", "scale"] == "points"
    assert forest.loc["error rate", "low"] == pytest.approx(100 * low)
    latency = next(m for m in doc["metrics"] if m["metric"] == "latency_s")["effect"]
    assert forest.loc["latency", "scale"] == "relative"
    assert forest.loc["latency", "effect"] == pytest.approx(
        100 * latency["difference"] / latency["control"]
    )


def test_metric_names_and_verdict_colours():
    assert ef.name("safety_rate.pii.email") == "safety hits: pii.email"
    assert ef.name("finish_reason.length") == "finish reason: length"
    assert ef.verdict("worse") == ":red-badge[worse]"
    assert ef.p_value(0.0001) == "<0.001" and ef.p_value(None) == "–"
