"""Rules held to the metrics catalogue: every series an expression reads is one the agent
exposes, one Prometheus makes itself, or one a recording rule writes; every label a
selector matches on is a label of that metric."""

from __future__ import annotations

from collections.abc import Iterable

from alerts.rules.promql import metric_names, selectors

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
