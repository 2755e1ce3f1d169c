"""The soak's verdicts and its picture. Windows: warm-up (the first `warmup_s`, left out
of every verdict but the record count), then the first `compare_s` after it and the last
`compare_s` of the traffic, whose figures are set side by side."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from bench.soak_run import Sample, Soak

MiB = 2**20
FDS_SLACK = 5  # descriptors the last window's peak may exceed the first's by (a reconnect)


@dataclass
class Windows:
    """Seconds into the traffic: warm-up end, and the length of the compared windows."""

    warmup_s: float
    compare_s: float
    end_s: float


def windows(soak: Soak, warmup_s: float, compare_s: float) -> Windows:
    """The run's windows, each at most a quarter of the traffic (a short run is cut so)."""
    q = soak.traffic_s / 4
    return Windows(min(warmup_s, q), min(compare_s, q), soak.traffic_s)


def _between(samples: list[Sample], t0: float, t1: float) -> list[Sample]:
    return [s for s in samples if t0 <= s.t < t1] or samples[-1:]


def _p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(0.99 * len(xs)))] if xs else float("nan")


def verdicts(soak: Soak, w: Windows) -> list[tuple[str, str, str, bool]]:
    """(target, first figure, last figure / value, met) for each of the soak's targets."""
    after = _between(soak.samples, w.warmup_s, w.end_s + 1)
    first = _between(soak.samples, w.warmup_s, w.warmup_s + w.compare_s)
    last = _between(soak.samples, w.end_s - w.compare_s, w.end_s + 1)
    rss0 = statistics.median(s.rss for s in first)
    rss1 = statistics.median(s.rss for s in last)
    growth = rss1 / rss0 - 1
    fd0, fd1 = max(s.fds for s in first), max(s.fds for s in last)
    wal_before = max(s.wal for s in after if s.t < w.end_s - w.compare_s) if len(after) > 1 else 0
    wal1 = max(s.wal for s in last)
    # The first window is the one after the warm-up, as for RSS: the agent's first
    # seconds (imports finishing, caches filling) would make any later window look good.
    p0 = _p99([ms for t, ms in soak.latencies if w.warmup_s <= t < w.warmup_s + w.compare_s])
    p1 = _p99([ms for t, ms in soak.latencies if t >= w.end_s - w.compare_s])
    lost_es, lost_store = soak.answered - soak.in_es, soak.answered - soak.in_store
    return [
        (
            "RSS growth after warm-up < 5%",
            f"{rss0 / MiB:.1f} MiB",
            f"{rss1 / MiB:.1f} MiB ({growth:+.1%})",
            growth < 0.05,
        ),
        (
            "open file descriptors flat",
            f"peak {fd0}",
            f"peak {fd1} (all after warm-up: {min(s.fds for s in after)}-"
            f"{max(s.fds for s in after)})",
            fd1 <= fd0 + FDS_SLACK,
        ),
        (
            "SQLite WAL bounded",
            f"peak {wal_before / MiB:.2f} MiB before the last window",
            f"peak {wal1 / MiB:.2f} MiB in it",
            wal1 <= max(wal_before * 1.1, 1 * MiB),
        ),
        (
            "p99 last window within 10% of the first",
            f"{p0:.1f} ms",
            f"{p1:.1f} ms ({p1 / p0 - 1:+.1%})",
            p1 <= 1.1 * p0,
        ),
        (
            "no record lost (after the drain)",
            f"{soak.answered:,} answered",
            f"{soak.in_store:,} in the store, {soak.in_es:,} in the emulator: "
            f"lost {max(lost_store, 0)} / {max(lost_es, 0)}",
            lost_es <= 0 and lost_store <= 0,
        ),
    ]


def figure(soak: Soak, w: Windows):
    """RSS, FDs, p99, backlog and WAL against time, one panel each, warm-up shaded."""
    from plotly.subplots import make_subplots

    rows = (
        ("agent RSS (MiB)", lambda s: s.rss / MiB),
        ("open FDs", lambda s: s.fds),
        ("p99 latency (ms)", lambda s: s.p99_ms),
        ("backlog (records)", lambda s: sum(s.backlog.values())),
        ("SQLite WAL (MiB)", lambda s: s.wal / MiB),
    )
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.03)
    t = [s.t / 60 for s in soak.samples]
    for i, (label, get) in enumerate(rows, start=1):
        fig.add_scatter(x=t, y=[get(s) for s in soak.samples], name=label, row=i, col=1)
        fig.update_yaxes(title_text=label, row=i, col=1)
        fig.add_vrect(x0=0, x1=w.warmup_s / 60, fillcolor="grey", opacity=0.12, row=i, col=1)
    fig.update_xaxes(title_text="minutes into the traffic (warm-up shaded)", row=len(rows))
    fig.update_layout(title="Soak (bench/soak.py)", width=900, height=1000, template="plotly_white")
    return fig


def plot(soak: Soak, w: Windows, path: Path) -> None:
    """Write the picture as a PNG at `path`."""
    from bench.scale_plot import save_png

    save_png(figure(soak, w), path, (920, 1020))
