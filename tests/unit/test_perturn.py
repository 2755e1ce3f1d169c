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
