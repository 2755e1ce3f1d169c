"""The record path: built from settings in one place, in a fixed order, handing each
record on once; a failing stage loses no record; metrics count a record all at once."""

from __future__ import annotations

import dataclasses

import pytest

from agent.app import Agent
from agent.config import load_settings
from agent.metrics_stage import MetricsStage
from agent.pipeline import MemorySink, RecordPipeline
from agent.record import SafetyVerdict
from agent.recordpath import InFlight, RecordPath, Stage
from tests.records import make_record

pytestmark = pytest.mark.unit


def order(tmp_path, **overrides):
    settings = load_settings(overrides={"store": {"dir": str(tmp_path)}, **overrides})
    return Agent(settings, "http://127.0.0.1:9", [MemorySink()]).path.order()


def test_the_default_path_redacts_then_writes_early_counts_costs_and_stores(tmp_path):
    assert order(tmp_path) == [
        "safety",  # first: nothing keeps a record before its text is redacted
        "store.early",  # the row exists while the cost stage holds the record
        "metrics",  # at once: errors and latency do not wait for the cost
        "cost",
        "sink:store",
        "sink:memory",
    ]


def test_without_cost_there_is_no_early_write_and_without_store_no_store_sink(tmp_path):
    assert order(tmp_path, cost={"enabled": False}) == [
        "safety",
        "metrics",
        "sink:store",
        "sink:memory",
    ]
    assert order(tmp_path, store={"enabled": False}) == [
        "safety",
        "metrics",
        "cost",
        "sink:memory",
    ]
    spans = {"endpoint": "http://127.0.0.1:9/v1/traces"}
    assert order(tmp_path, otel=spans)[-3:] == ["sink:store", "sink:otel", "sink:memory"]


class Tag(Stage):
    """Appends its name to the record's `extra`: shows the order records go through."""

    def __init__(self, name: str, hold: bool = False) -> None:
        super().__init__()
        self.name, self.hold, self.held, self.begun = name, hold, [], []

    def begin(self, request: InFlight) -> None:
        self.begun.append(request.request_id)

    def process(self, record):
        extra = {**record.extra, "seen": record.extra.get("seen", "") + self.name}
        record = dataclasses.replace(record, extra=extra)
        if self.hold:
            self.held.append(record)
        else:
            self.emit(record)

    async def stop(self) -> None:
        for record in self.held:
            self.emit(record)
        self.held = []


def path_of(stages, sink):
    return RecordPath(stages, RecordPipeline([sink], 100, 10, _instruments()))


def _instruments():
    from agent.metrics import new_registry

    return new_registry()[1]


async def test_records_go_through_stages_in_order_and_a_holding_stage_releases_at_stop():
    sink = MemorySink()
    a, b, c = Tag("a"), Tag("b", hold=True), Tag("c")
    path = path_of([a, b, c], sink)
    await path.start()
    path.begin(InFlight("r1", 0, "t", "m", False))
    path.finish(make_record("r1"))
    await path.pipeline.drain()
    assert sink.records == []  # b holds it
    assert b.begun == ["r1"] and a.begun == ["r1"]
    await path.stop()  # b emits, c still sees it, then the queue is delivered
    (r,) = sink.records
    assert r.extra["seen"] == "abc"


class Broken(Stage):
    name = "broken"

    def process(self, record):
        raise RuntimeError("a bug in a stage")


async def test_a_failing_stage_is_skipped_without_text_and_the_later_ones_still_run():
    sink = MemorySink()
    path = path_of([Tag("a"), Broken(), Tag("c")], sink)
    await path.start()
    path.finish(make_record("r1", error_message="key sk-secret", prompt_text="hi"))
    await path.stop()
    (r,) = sink.records
    assert r.request_id == "r1" and r.error_message is None and r.prompt_text is None
    assert r.extra["seen"] == "ac"  # only the broken stage was skipped


async def test_a_record_handed_on_after_the_queue_closed_is_counted_not_lost_silently():
    from agent.metrics import new_registry

    sink = MemorySink()
    registry, instruments = new_registry()
    path = RecordPath([], RecordPipeline([sink], 100, 10, instruments))
    await path.start()
    path.finish(make_record("r1"))
    await path.stop()
    assert path.pipeline.submit(make_record("late")) is False
    dropped = registry.get_sample_value("inferwatch_records_dropped_total", {"reason": "closed"})
    assert [r.request_id for r in sink.records] == ["r1"] and dropped == 1


def test_the_metrics_stage_counts_the_request_and_its_safety_hits_together(tmp_path):
    agent = Agent(load_settings(overrides={"store": {"enabled": False}}), "http://127.0.0.1:9")
    hits = agent.instruments["inferwatch_safety_filter_hits_total"]
    stage = MetricsStage(agent.metrics, hits)
    out = []
    stage.connect(out.append)
    verdict = SafetyVerdict("pii.email", "input", "flag", 2)
    stage.process(make_record("r1", safety=(verdict,)))
    labels = {"filter": "pii.email", "direction": "input", "action": "flag"}
    assert agent.registry.get_sample_value("inferwatch_safety_filter_hits_total", labels) == 2
    assert len(out) == 1
    text = agent.registry.render().decode()
    assert "gen_ai_server_request_duration_seconds_count{" in text
