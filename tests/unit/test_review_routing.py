"""Review of issue 21 (routing, experiments): each test pins a defect a review found (all
fixed): credential headers as sticky keys, passthrough rows in the arms, a require_pass gate
without metered cost, canary resume by wall clock, a stale gate cache after a step, and a
shadow cancelled before it ran."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest
from aiohttp.test_utils import make_mocked_request

from agent.config import load_settings
from agent.metrics import new_registry
from agent.routing import analysis
from agent.routing.canary import CONTINUE, Canary, Look
from agent.routing.config import ExperimentConfig, GateConfig
from agent.routing.http import ExperimentsAPI
from agent.routing.router import Router
from agent.routing.shadow import Shadows
from agent.store import experiments as ev
from agent.store.experiments import ExperimentLog
from agent.upstream import Upstream
from alerts.experiments.arms import connect_ro, load
from alerts.experiments.canary_gate import evaluate_gate
from tests.experiment_store import arm, write_store
from tests.experiment_upstreams import primary_record
from tests.store_records import make_record

pytestmark = pytest.mark.unit

UPS = [
    {"name": "a", "url": "http://a:1", "weight": 100},
    {"name": "b", "url": "http://b:1", "weight": 0},
]


# ---- config -------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Authorization", "Cookie", "Proxy-Authorization"])
def test_sticky_on_a_credential_header_is_refused_at_start(header):
    with pytest.raises(ValueError):
        ExperimentConfig(
            name="x", kind="split", control="a", variant="b", sticky=f"header:{header}"
        )


# ---- what the arms count ------------------------------------------------------------------


def test_passthrough_records_are_not_part_of_an_arm(tmp_path):
    chats = arm(60, "b", seed=1)
    models = [
        make_record(
            i, operation="other", path="/v1/models", stream=False, experiment="exp", variant="b"
        )
        for i in range(40)
    ]
    conn = connect_ro(write_store(tmp_path / "s.db", chats + models))
    try:
        data = load(conn, "exp", "a", "b", kind="canary")
    finally:
        conn.close()
    assert data.variant.n == 60


def test_require_pass_can_pass_when_no_cost_is_metered(tmp_path):
    def uncosted(records):
        return [dataclasses.replace(r, cost_amount=None, cost_currency=None) for r in records]

    records = uncosted(arm(3000, "a", seed=1)) + uncosted(arm(3000, "b", seed=2))
    conn = connect_ro(write_store(tmp_path / "s.db", records))
    try:
        data = load(conn, "exp", "a", "b", kind="canary")
    finally:
        conn.close()
    outcome = evaluate_gate(data, GateConfig(require_pass=True))
    # Identical arms, 3,000 requests each: latency, TTFT and errors all pass.
    assert outcome.decision.value == "pass", outcome.reason
    assert [m.metric for m in outcome.metrics] == ["latency", "ttft", "error rate"]
    assert "no metered cost" in outcome.to_json()["not_gated"][0]


# ---- canary resume --------------------------------------------------------------------------


def _canary(tmp_path, steps, clock):
    exp = {"name": "cn", "kind": "canary", "control": "a", "variant": "b", "steps": steps}
    s = load_settings(None, {"upstreams": UPS, "experiments": [exp]})
    router = Router(
        {u.name: Upstream(s.upstream, u.url) for u in s.upstreams},
        s.upstreams,
        s.experiments[0],
        random.Random(1).random,
    )
    _, instruments = new_registry()
    log = ExperimentLog(tmp_path / "store.sqlite3")
    look = Look(CONTINUE, "", {}, (0, 0))
    return Canary(s.experiments[0], router, log, lambda since: look, instruments, clock), log


async def test_resume_follows_the_order_events_were_written_not_the_wall_clock(tmp_path):
    now = [1_000_000.0]

    def clock():
        return now[0]

    old, log = _canary(tmp_path, [{"weight": 5, "hold_s": 60}], clock)
    await old.start()  # config A at t=1,000,000
    await old.stop()
    now[0] -= 3600  # NTP steps the clock back an hour; the operator changes the steps
    steps = [{"weight": 5, "hold_s": 0}, {"weight": 25, "hold_s": 0}]
    new, _ = _canary(tmp_path, steps, clock)
    await new.start()  # config B: a new start, at step 1
    await new.stop()
    now[0] += 1
    log.add("cn", ev.STEP, 2, 25.0, {}, now[0])  # B reached step 2 (as _advance writes it)
    assert [e.event for e in log.events("cn")].count(ev.STARTED) == 2
    again, _ = _canary(tmp_path, steps, clock)
    await again.start()
    await again.stop()
    assert again.step == 2  # resumed, not started over
    assert [e.event for e in log.events("cn")].count(ev.STARTED) == 2


# ---- the gate endpoint ------------------------------------------------------------------------


class _FakeCanary:
    def __init__(self) -> None:
        self.step_started_at = 100.0


async def test_the_gate_endpoint_reads_the_current_step_right_after_a_step(tmp_path, monkeypatch):
    s = load_settings(
        None,
        {
            "upstreams": UPS,
            "experiments": [
                {
                    "name": "cn",
                    "kind": "canary",
                    "control": "a",
                    "variant": "b",
                    "steps": [{"weight": 5}, {"weight": 25}],
                }
            ],
        },
    )
    seen: list[float] = []

    def look(store, exp, since):
        seen.append(since)
        return Look(CONTINUE, f"since {since}", {}, (0, 0))

    monkeypatch.setattr(analysis, "gate_look", look)
    router = Router(
        {u.name: Upstream(s.upstream, u.url) for u in s.upstreams}, s.upstreams, s.experiments[0]
    )
    canary = _FakeCanary()
    api = ExperimentsAPI(s.experiments[0], router, canary, tmp_path / "s.db", clock=lambda: 0.0)

    def request():
        return make_mocked_request(
            "GET", "/inferwatch/experiments/cn/gate", match_info={"name": "cn"}
        )

    await api.gate(request())
    canary.step_started_at = 200.0  # the canary moved to step 2
    await api.gate(request())
    assert seen == [100.0, 200.0]


# ---- shadow copies --------------------------------------------------------------------------


class _Path:
    def __init__(self) -> None:
        self.begun, self.finished = [], []

    def begin(self, request) -> None:
        self.begun.append(request)

    def finish(self, record) -> None:
        self.finished.append(record)


async def test_a_shadow_cancelled_before_it_ran_still_leaves_a_record_and_a_count(monkeypatch):
    exp = {
        "name": "sh",
        "kind": "shadow",
        "control": "a",
        "variant": "b",
        "shadow": {"mode": "parallel"},
    }
    s = load_settings(None, {"upstreams": UPS, "experiments": [exp]})
    registry, instruments = new_registry()
    path = _Path()
    shadows = Shadows(s.experiments[0], s, path, None, instruments)
    primary = primary_record()
    up = Upstream(s.upstream, "http://b:1")
    from yarl import URL

    task = shadows.launch(primary, up, "b", URL("http://b:1/v1/chat/completions"), {}, b"{}")
    assert task is not None
    await shadows.stop()  # before the task ever ran (the agent is shutting down)
    await asyncio.sleep(0)
    cancelled = registry.get_sample_value(
        "inferwatch_experiment_shadow_requests_total", {"experiment": "sh", "outcome": "cancelled"}
    )
    assert len(path.finished) == 1 and cancelled == 1
