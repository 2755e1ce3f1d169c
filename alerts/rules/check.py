"""Rules held to the metrics catalogue: every series an expression reads is one the agent
exposes, one Prometheus makes itself, or one a recording rule writes; every label a
selector matches on, or an aggregation groups by, is a label of that metric."""

from __future__ import annotations

from collections.abc import Iterable

from alerts.rules.promql import groupings, metric_names, selectors

# Labels Prometheus adds to every scraped series (the target's).
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus makes itself, which rules may read beside the agent's.
PROMETHEUS_OWN = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
PROMETHEUS_OWN_PREFIXES = ("scrape_",)


def exposed_names(specs: dict) -> dict[str, str]:
    """Series names the catalogue's families expose (histograms as _bucket, _sum and
    _count; counters already end in _total), each mapped to its family's name."""
    names: dict[str, str] = {}
    for spec in specs.values():
        suffixes = ("_bucket", "_sum", "_count") if spec.type == "histogram" else ("",)
        names.update({spec.name + s: spec.name for s in suffixes})
    return names


def is_prometheus_own(name: str) -> bool:
    """True for `up`, `ALERTS` and the scrape_* series Prometheus records per target."""
    return name in PROMETHEUS_OWN or name.startswith(PROMETHEUS_OWN_PREFIXES)


def _rule_name(rule: dict) -> str:
    return rule.get("record") or rule["alert"]


def unknown_names(rules: Iterable[dict], specs: dict) -> set[tuple[str, str]]:
    """(rule, series name) for each name a rule reads that nothing declares."""
    rules = list(rules)
    known = set(exposed_names(specs)) | {r["record"] for r in rules if "record" in r}
    return {
        (_rule_name(r), name)
        for r in rules
        for name in metric_names(r["expr"])
        if name not in known and not is_prometheus_own(name)
    }


def unknown_labels(rules: Iterable[dict], specs: dict) -> set[tuple[str, str, str]]:
    """(rule, metric, label) for each matcher on a catalogue metric naming a label it
    lacks (`le` is a label of every _bucket series)."""
    exposed = exposed_names(specs)
    wrong = set()
    for r in rules:
        for name, labels in selectors(r["expr"]):
            if name in exposed:
                allowed = set(specs[exposed[name]].labels)
                allowed |= {"le"} if name.endswith("_bucket") else set()
                wrong |= {(_rule_name(r), name, label) for label in labels - allowed}
    return wrong


def unknown_grouping_labels(rules: Iterable[dict], specs: dict) -> set[tuple[str, str, str]]:
    """(rule, series read, label) for each label of a `by (...)`/`without (...)` list that
    no catalogue series its operand reads carries (a `sum by (tenant)` over a family
    without `tenant` gives one unlabelled series, silently). Operands that read a recorded
    series, or relabel, are left out: their labels are not in the catalogue."""
    exposed = exposed_names(specs)
    wrong = set()
    for r in rules:
        for labels, inner in groupings(r["expr"]):
            names = metric_names(inner)
            if not names or "label_replace" in inner or not names <= set(exposed):
                continue
            allowed = set(TARGET_LABELS)
            for name in names:
                allowed |= set(specs[exposed[name]].labels)
                allowed |= {"le"} if name.endswith("_bucket") else set()
            wrong |= {(_rule_name(r), ",".join(sorted(names)), label) for label in labels - allowed}
    return wrong
