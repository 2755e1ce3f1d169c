"""The soak's verdicts from made-up samples: windows cut to a quarter of a short run,
RSS growth, FDs, WAL, p99 and lost records judged on the right windows."""

from __future__ import annotations

import pytest

from bench.soak_report import verdicts, windows
from bench.soak_run import Sample, Soak

pytestmark = pytest.mark.unit

MiB = 2**20


def _soak(rss_end: int = 100 * MiB, fds_end: int = 50, in_es: int = 400) -> Soak:
    soak = Soak(traffic_s=400.0, answered=400, in_store=400, in_es=in_es)
    for t in range(0, 400, 10):
        late = t >= 300
        soak.samples.append(
            Sample(t, rss_end if late else 100 * MiB, fds_end if late else 50, MiB, 5.0, t, {}, 0)
        )
    soak.latencies = [(t / 2, 900.0 if t < 20 else 10.0) for t in range(800)]
    return soak


def test_a_short_run_cuts_its_windows_to_a_quarter():
    w = windows(_soak(), warmup_s=300, compare_s=300)
    assert (w.warmup_s, w.compare_s, w.end_s) == (100, 100, 400)


def test_a_steady_run_meets_every_target_and_the_cold_start_is_left_out():
    soak = _soak()
    rows = verdicts(soak, windows(soak, 100, 100))
    assert [ok for *_, ok in rows] == [True] * 5
    assert rows[3][1] == "10.0 ms"  # p99 of the window after the warm-up, not the cold start


def test_growth_leaks_and_losses_are_not_met():
    soak = _soak(rss_end=110 * MiB, fds_end=80, in_es=399)
    met = {name: ok for name, *_, ok in verdicts(soak, windows(soak, 100, 100))}
    assert not met["RSS growth after warm-up < 5%"]
    assert not met["open file descriptors flat"]
    assert not met["no record lost (after the drain)"]
