"""The cost engine's columns: the two ways of storing finished rows agree."""

from __future__ import annotations

import numpy as np
import pytest

from agent.cost.slots import _SCALAR_ROWS, Columns

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("n", [1, _SCALAR_ROWS, _SCALAR_ROWS + 1, 200])
def test_finished_rows_land_in_their_slots_whichever_path_stores_them(n):
    cols = Columns(256)
    slots = [cols.alloc(i, 0, lambda: ()) for i in range(n)]
    rng = np.random.default_rng(n)
    rows = [
        (s, int(rng.integers(1, 10**12)), bool(rng.integers(0, 2)), float(rng.random()), 2.5 * s)
        for s in reversed(slots)  # not in slot order
    ]
    cols.finished(rows)
    for slot, end, known, prefill, decode in rows:
        assert (cols.end[slot], cols.known[slot]) == (end, known)
        assert (cols.prefill[slot], cols.decode[slot]) == (prefill, decode)
    untouched = np.setdiff1d(np.arange(cols.capacity), slots)
    assert not cols.known[untouched].any()
