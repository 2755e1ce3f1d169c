"""The attribution rule on hand-made cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.cost.attribution import RUNNING, Participants, covered, share

pytestmark = pytest.mark.unit

S = 1_000_000_000


def parts(rows):
    """rows: (start, first_token, end, prefill_work, decode_work, two_phase, known)."""
    cols = list(zip(*rows, strict=True))
    kinds = (np.int64, np.int64, np.int64, float, float, bool, bool)
    return Participants(*(np.array(c, k) for c, k in zip(cols, kinds, strict=True)))


def test_work_one_to_three_gets_cost_one_to_three():
    p = parts([(0, 0, S, 10.0, 0.0, False, True), (0, 0, S, 30.0, 0.0, False, True)])
    split = share(0, S, p, 1.0)
    assert split.idle == 0.0
    assert split.fractions[1] / split.fractions[0] == pytest.approx(3.0)


def test_prefill_is_charged_where_it_happened_not_decode():
    # A: long prompt, prefill in [0, 0.5 s), one output token. B: short prompt, decodes all
    # second. In the first half-second A's prefill dominates, in the second B's decode.
    a = (0, S // 2, S // 2 + 1, 1000.0, 1.0, True, True)
    b = (0, S // 100, S, 1.0, 100.0, True, True)
    first = share(0, S // 2, parts([a, b]), 1.0).fractions
    second = share(S // 2, S, parts([a, b]), 1.0).fractions
    assert first[0] > 0.9 and second[1] > 0.98


def test_time_with_no_request_is_idle_and_not_charged():
    p = parts([(S // 4, 0, S // 2, 1.0, 1.0, False, True)])
    split = share(0, S, p, 1.0)
    assert split.idle == pytest.approx(0.75)
    assert split.fractions.sum() == pytest.approx(0.25)


def test_running_request_is_charged_the_estimate_per_second():
    done = (0, 0, S, 10.0, 0.0, False, True)
    running = (0, 0, RUNNING, 0.0, 0.0, False, False)
    split = share(0, S, parts([done, running]), 30.0)  # 30 work/s over 1 s
    assert split.fractions[1] / split.fractions[0] == pytest.approx(3.0)


def test_no_measurable_work_is_shared_by_time():
    p = parts([(0, 0, S, 0.0, 0.0, False, True), (S // 2, 0, S, 0.0, 0.0, False, True)])
    f = share(0, S, p, 1.0).fractions
    assert f[0] / f[1] == pytest.approx(2.0)


spans = st.tuples(st.integers(0, 10 * S), st.integers(0, 10 * S)).map(sorted)


@settings(max_examples=200, deadline=None)
@given(st.lists(spans, min_size=1, max_size=20), spans)
def test_covered_matches_a_brute_force_union(span_list, window):
    a, b = window
    if a == b:
        b += 1
    start = np.array([s for s, _ in span_list], np.int64)
    end = np.array([e for _, e in span_list], np.int64)
    marks = sorted((max(s, a), min(e, b)) for s, e in span_list if min(e, b) > max(s, a))
    total, reach = 0, a
    for s, e in marks:
        if e > max(s, reach):
            total += e - max(s, reach)
            reach = e
    assert covered(a, b, start, end) == pytest.approx(total / (b - a), abs=1e-12)
