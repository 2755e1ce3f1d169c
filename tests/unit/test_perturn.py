"""PerTurn: a slice per event-loop turn, in order; at once off the loop; a failing slice
does not strand the rest."""

from __future__ import annotations

import asyncio

import pytest

from agent.perturn import PerTurn

pytestmark = pytest.mark.unit


async def test_items_go_a_slice_per_loop_turn_in_order():
    got: list[list[int]] = []
    q = PerTurn(got.append, 3)
    q.add(range(7))
    assert got == [] and len(q) == 7  # nothing on the caller's turn
    for _ in range(3):
        await asyncio.sleep(0)
    assert got == [[0, 1, 2], [3, 4, 5], [6]] and len(q) == 0


def test_off_a_running_loop_items_are_handed_on_at_once():
    got: list[list[int]] = []
    PerTurn(got.append, 2).add(range(5))
    assert got == [[0, 1, 2, 3, 4]]


async def test_a_failing_slice_leaves_the_rest_on_their_way(caplog):
    got: list[list[int]] = []

    def handle(batch: list[int]) -> None:
        if batch[0] == 0:
            raise RuntimeError("bug in a handler")
        got.append(batch)

    q = PerTurn(handle, 2)
    q.add(range(4))
    for _ in range(3):
        await asyncio.sleep(0)  # the loop logs the first slice's error and goes on
    assert got == [[2, 3]]


async def test_flush_hands_on_everything_now():
    got: list[list[int]] = []
    q = PerTurn(got.append, 2)
    q.add(range(5))
    q.flush()
    assert got == [[0, 1, 2, 3, 4]] and len(q) == 0


async def test_spread_hands_on_what_is_queued_evenly_over_the_spread():
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, list[int]]] = []
    q = PerTurn(lambda b: seen.append((loop.time(), b)), 1, spread_s=0.2, min_gap_s=0.001)
    t0 = loop.time()
    q.add(range(5))
    await asyncio.sleep(0)
    assert [b for _, b in seen] == [[0]]  # the first on the next turn, not all of them
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(seen) == 1  # the next waits its gap (0.2 s / 5), however many turns pass
    while len(seen) < 5:
        await asyncio.sleep(0.005)
    assert [b for _, b in seen] == [[0], [1], [2], [3], [4]]
    gaps = [b[0] - a[0] for a, b in zip(seen, seen[1:], strict=False)]
    assert all(g >= 0.035 for g in gaps), gaps  # 0.04 s each (timers never fire early)
    assert seen[-1][0] - t0 >= 0.15


async def test_spread_grows_the_slice_when_the_least_gap_cannot_carry_the_queue():
    loop = asyncio.get_running_loop()
    seen: list[list[int]] = []
    # 40 items over 0.1 s with gaps of at least 0.01 s: 10 slices of 4, not 40 of 1.
    q = PerTurn(seen.append, 1, spread_s=0.1, min_gap_s=0.01)
    q.add(range(40))
    t0 = loop.time()
    while len(q):
        await asyncio.sleep(0.005)
    assert [len(b) for b in seen] == [4] * 10
    assert [i for b in seen for i in b] == list(range(40))
    assert loop.time() - t0 >= 0.08


async def test_spread_an_add_resets_the_pace_for_everything_queued():
    seen: list[list[int]] = []
    q = PerTurn(seen.append, 1, spread_s=10.0, min_gap_s=0.001)
    q.add(range(2))  # 2 over 10 s: a gap of 5 s
    await asyncio.sleep(0)
    assert seen == [[0]]
    q.add(range(2, 10_002))  # now 10,001 over 10 s: ~1 ms apart, a slice of 2 at least
    await asyncio.sleep(0.3)
    assert len(seen) > 20  # the 5 s gap of the first pace no longer holds them
    assert [i for b in seen for i in b] == list(range(sum(map(len, seen))))
