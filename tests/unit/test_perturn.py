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


async def test_with_a_gap_slices_are_spaced_in_time_until_a_backlog_builds():
    loop = asyncio.get_running_loop()
    seen: list[tuple[float, list[int]]] = []
    q = PerTurn(lambda b: seen.append((loop.time(), b)), 2, gap_s=0.02, catch_up=6)
    q.add(range(9))
    for _ in range(5):  # the backlog (9, then 7 >= 6) goes a slice per turn
        await asyncio.sleep(0)
    assert [b for _, b in seen] == [[0, 1], [2, 3]]  # 5 left: under catch_up, now spaced
    await asyncio.sleep(0.1)
    assert [b for _, b in seen] == [[0, 1], [2, 3], [4, 5], [6, 7], [8]]
    gaps = [b[0] - a[0] for a, b in zip(seen[1:], seen[2:], strict=False)]
    assert all(g >= 0.015 for g in gaps), gaps
