"""Plain-text tables of an experiment report, its canary steps and the stored experiments,
for `inferwatch experiments` (the JSON forms are the reports' own `to_json`)."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.cli_args import show_time
from alerts.experiments.stored import StoredArm

HEAD = ("metric", "control", "variant", "difference [95% CI]", "p adj", "verdict")


def report_text(doc: dict, evts: list[dict]) -> str:
    """The report (an `ExperimentReport.to_json()`) as a table, then the canary's steps."""
    lines = [_title(doc), ""]
    rows = [HEAD, *(_row(m) for m in doc["metrics"])]
    lines += _columns(rows)
    worse, better = doc["summary"]["worse"], doc["summary"]["better"]
    lines += ["", f"worse: {', '.join(worse) or 'none'}; better: {', '.join(better) or 'none'}"]
    if evts:
        lines += ["", "events:", *_columns([_event(e) for e in evts])]
    return "\n".join(lines) + "\n"


def list_text(arms: list[StoredArm]) -> str:
    """One line per (experiment, upstream) in the store."""
    if not arms:
        return "no experiments in the store\n"
    rows = [("experiment", "upstream", "requests", "shadow copies", "first", "last")]
    rows += [
        (
            a.experiment,
            a.variant,
            str(a.requests),
            str(a.shadow_copies),
            show_time(a.first),
            show_time(a.last),
        )
        for a in arms
    ]
    return "\n".join(_columns(rows)) + "\n"


def _title(doc: dict) -> str:
    w, n = doc["window"], doc["n"]
    since = show_time(w["since"]) if w["since"] is not None else "the first request"
    until = show_time(w["until"]) if w["until"] is not None else "now"
    pairs = f", {n['pairs']} shadow pairs" if n["pairs"] is not None else ""
    return (
        f"experiment {doc['name']} ({doc['kind']}): control {doc['control']} "
        f"({n['control']} requests) vs variant {doc['variant']} ({n['variant']} requests)"
        f"{pairs}, from {since} to {until}"
    )


def _row(m: dict) -> tuple[str, ...]:
    e = m["effect"]
    if e is None:
        return (m["metric"], "-", "-", m["reason"] or "-", "-", m["verdict"])
    pct = e["estimand"] == "rate"
    ci = e["ci"]
    diff = f"{_num(e['difference'], pct, sign=True)} [{_num(ci[0], pct)}, {_num(ci[1], pct)}]"
    return (
        m["metric"],
        _num(e["control"], pct),
        _num(e["variant"], pct),
        diff,
        _p(m["p_adjusted"]),
        m["verdict"],
    )


def _event(e: dict) -> tuple[str, ...]:
    step = "" if e["step"] is None else f"step {e['step']}"
    weight = "" if e["weight"] is None else f"{e['weight']:g}%"
    reason = e["detail"].get("reason", "")
    return (show_time(e["at"]), e["event"], step, weight, str(reason))


def _num(x: float | None, pct: bool, sign: bool = False) -> str:
    if x is None:
        return "-"
    if pct:
        return f"{100 * x:{'+' if sign else ''}.2f}%"
    return f"{x:{'+' if sign else ''}.4g}"


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
