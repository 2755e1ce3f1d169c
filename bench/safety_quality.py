"""Precision and recall of each safety filter on the labelled corpus in tests/safety_corpus.

Run: python bench/safety_quality.py   (prints a markdown table per family)

An example counts as a true positive for a filter when that filter fires on it and one of
its hits covers the labelled value (so a hit on the wrong part of the text does not
count); a hit of a filter on an example not labelled with it is a false positive. Labels
may name a family (`injection`): then any filter of the family counts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from agent.safety.config import SafetyConfig
from agent.safety.engine import SafetyEngine

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "safety_corpus"
FAMILIES = ("pii", "secret", "injection", "blocklist")


def load(family: str) -> list[dict]:
    """The rows of one family's corpus file."""
    with open(CORPUS / f"{family}.jsonl") as f:
        return [json.loads(line) for line in f]


def corpus_engine() -> SafetyEngine:
    """An engine with every filter on (flag) and the corpus's blocklist terms."""
    terms = json.loads((CORPUS / "blocklist_terms.json").read_text())
    return SafetyEngine(SafetyConfig(blocklist=terms))


def _label_of(filter_name: str, labels: list[str]) -> str:
    family = filter_name.split(".", 1)[0]
    return family if family in labels else filter_name


def evaluate(engine: SafetyEngine, family: str, rows: list[dict]) -> dict[str, Counter]:
    """{label: Counter(tp, fp, fn)} for the filters of `family` over `rows`."""
    out: dict[str, Counter] = {}
    for row in rows:
        text, labels = row["text"], row["labels"]
        hits = [h for h in engine.scan(text) if h.filter.startswith(family + ".")]
        fired = {}
        for h in hits:
            fired.setdefault(_label_of(h.filter, labels), []).append(h)
        for label in set(labels) | set(fired):
            c = out.setdefault(label, Counter())
            found = fired.get(label, [])
            if label not in labels:
                c["fp"] += 1
            elif found and _covers(text, found, row["values"]):
                c["tp"] += 1
            else:
                c["fn"] += 1
    return out


def _covers(text: str, hits: list, values: list[str]) -> bool:
    for v in values:
        at = text.find(v)
        if at >= 0 and not any(h.start <= at and at + len(v) <= h.end for h in hits):
            return False
    return True


def ratios(c: Counter) -> tuple[float, float]:
    """(precision, recall); 1.0 when there is nothing to be wrong about."""
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    return (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)


def main() -> None:
    engine = corpus_engine()
    for family in FAMILIES:
        rows = load(family)
        pos = sum(1 for r in rows if r["labels"])
        print(f"\n### {family} ({pos} positive, {len(rows) - pos} negative examples)\n")
        print(
            "| filter | TP | FP | FN | precision | recall |\n| --- | --- | --- | --- | --- | --- |"
        )
        total: Counter = Counter()
        for label, c in sorted(evaluate(engine, family, rows).items()):
            total += c
            p, r = ratios(c)
            print(f"| {label} | {c['tp']} | {c['fp']} | {c['fn']} | {p:.3f} | {r:.3f} |")
        p, r = ratios(total)
        print(
            f"| **all {family}** | {total['tp']} | {total['fp']} | {total['fn']} | {p:.3f} | {r:.3f} |"
        )


if __name__ == "__main__":
    main()
