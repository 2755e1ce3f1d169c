"""The soak's sampler reads its backlog gauges without parsing the whole /metrics page (the
cause of its p99 spikes), and the stall summary says what the diagnostic saw."""

from __future__ import annotations

import gc
import sqlite3

import pytest

from bench import soak_run
from bench.soak_stalls import Slow, Stalls, agent_figures, summary

pytestmark = pytest.mark.unit

PAGE = "\n".join(
    [
        "# HELP inferwatch_records_queued Records waiting.",
        "# TYPE inferwatch_records_queued gauge",
        "inferwatch_records_queued 3.0",
        'inferwatch_cost_records_held{model="a"} 2.0',
        'inferwatch_cost_records_held{model="b"} 5.0',
        "inferwatch_shipper_backlog_records 7.0",
        *(f'gen_ai_server_request_duration_seconds_count{{tenant="t{i}"}} {i}' for i in range(500)),
    ]
)


def test_the_backlog_gauges_are_summed_over_their_labels():
    got = soak_run.backlog(PAGE)
    assert got == {
        "inferwatch_records_queued": 3.0,
        "inferwatch_cost_records_held": 7.0,
        "inferwatch_store_records_pending": 0.0,
        "inferwatch_shipper_backlog_records": 7.0,
    }


def test_only_the_backlog_lines_reach_the_parser(monkeypatch):
    seen: list[str] = []
    parse = soak_run.text_string_to_metric_families

    def spy(text):
        seen.append(text)
        return parse(text)

    monkeypatch.setattr(soak_run, "text_string_to_metric_families", spy)
    soak_run.backlog(PAGE)
    lines = "\n".join(seen).splitlines()
    assert len(lines) == 4
    assert all(x.startswith(soak_run.BACKLOG) for x in lines)


def _stall(gap: float, cpu: float, gens: tuple[int, ...]) -> dict:
    gc = [{"gen": g, "ms": 1.0} for g in gens]
    return {"gap_ms": gap, "loop_thread_cpu_ms": cpu, "process_cpu_ms": cpu, "gc": gc}


def test_the_summary_counts_spikes_stalls_and_who_timed_them_slow():
    st = Stalls(
        agent=[_stall(120, 10, (2,))],
        bench=[_stall(90, 90, (0,)), _stall(60, 60, (1, 2))],
        slow=[Slow(1.0, 95.0, "a", agent_ms=2.0), Slow(2.0, 130.0, "b", agent_ms=120.0)],
    )
    text = "\n".join(summary(st, [3.0, 140.0, 4.0, 60.0]))
    assert "p99 over 50 ms: 2 of 4 (highest sample p99 140 ms)" in text
    assert "agent loop: 1 stalls over 50 ms (max 120 ms), 1 with a full" in text
    assert "ran a median 8% of a stall" in text
    assert "load generator loop (and the scripted upstream): 2 stalls" in text
    assert "at the client: 2; of these the agent's own record says over 50 ms for 1" in text


def test_slow_requests_get_the_agents_own_figure_from_the_store(tmp_path):
    store = tmp_path / "requests.sqlite3"
    conn = sqlite3.connect(store)
    conn.execute("CREATE TABLE requests (request_id TEXT, latency_s REAL, ttft_s REAL)")
    conn.executemany(
        "INSERT INTO requests VALUES (?, ?, ?)", [("a", 0.004, None), ("b", 0.5, 0.003)]
    )
    conn.commit()
    conn.close()
    slow = [Slow(1.0, 90.0, "a"), Slow(2.0, 80.0, "b"), Slow(3.0, 70.0, "missing")]
    agent_figures(store, slow)
    assert [round(s.agent_ms, 1) for s in slow[:2]] == [4.0, 3.0]  # a stream: its TTFT
    assert slow[2].agent_ms != slow[2].agent_ms  # NaN: no record


def test_the_load_generators_startup_heap_is_out_of_the_collectors_reach():
    before = gc.get_freeze_count()
    try:
        soak_run.settle_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
