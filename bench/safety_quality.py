"""Precision and recall of each safety filter on the labelled corpus in tests/safety_corpus.

Run: PYTHONPATH=. python bench/safety_quality.py [--libraries]
(prints a markdown table per family; --libraries also scores presidio-analyzer's pattern
recognizers and detect-secrets on the same PII and secret rows)

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
FAMILIES = ("pii", "secret", "injection", "blocklist")  # holdout.jsonl: see main()


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
        text = row["text"]
        labels = [x for x in row["labels"] if x.split(".", 1)[0] == family]
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


PRESIDIO = {
    "EMAIL_ADDRESS": "pii.email",
    "PHONE_NUMBER": "pii.phone",
    "CREDIT_CARD": "pii.card",
    "IBAN_CODE": "pii.iban",
    "US_SSN": "pii.ssn",
    "IP_ADDRESS": "pii.ip",
}


def presidio_scores(rows: list[dict]) -> dict[str, Counter]:
    """presidio-analyzer's recognizers for the same six kinds, all results (threshold 0)."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recs = [EmailRecognizer(), CreditCardRecognizer(), IbanRecognizer(), UsSsnRecognizer()]
    recs += [IpRecognizer(), PhoneRecognizer()]
    out: dict[str, Counter] = {}
    for row in rows:
        fired = set()
        for r in recs:
            fired |= {
                PRESIDIO[x.entity_type] for x in r.analyze(row["text"], r.supported_entities, None)
            }
        for label in set(row["labels"]) | fired:
            c = out.setdefault(label, Counter())
            c[
                "tp"
                if label in fired and label in row["labels"]
                else "fp"
                if label in fired
                else "fn"
            ] += 1
    return out


def detect_secrets_scores(rows: list[dict]) -> Counter:
    """detect-secrets' default plugins: does it find any secret in each row (family level)."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    c: Counter = Counter()
    with default_settings():
        for row in rows:
            fired = any(list(scan_line(line)) for line in row["text"].splitlines())
            labelled = bool(row["labels"])
            if fired or labelled:
                c["tp" if fired and labelled else "fp" if fired else "fn"] += 1
    return c


def _table(title: str, scores: dict[str, Counter]) -> None:
    print(f"\n### {title}\n")
    print("| filter | TP | FP | FN | precision | recall |\n| --- | --- | --- | --- | --- | --- |")
    total: Counter = Counter()
    for label, c in sorted(scores.items()):
        total += c
        p, r = ratios(c)
        print(f"| {label} | {c['tp']} | {c['fp']} | {c['fn']} | {p:.3f} | {r:.3f} |")
    p, r = ratios(total)
    print(f"| **all** | {total['tp']} | {total['fp']} | {total['fn']} | {p:.3f} | {r:.3f} |")


def main() -> None:
    import argparse
    import logging

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--libraries", action="store_true", help="also score presidio and detect-secrets"
    )
    args = ap.parse_args()
    engine = corpus_engine()
    for family in FAMILIES:
        rows = load(family)
        pos = sum(1 for r in rows if r["labels"])
        _table(
            f"{family} ({pos} positive, {len(rows) - pos} negative examples)",
            evaluate(engine, family, rows),
        )
    holdout = load("holdout")  # written after the rules were tuned; never tuned on
    for family in ("pii", "secret"):
        _table(
            f"held-out rows ({len(holdout)}), {family} filters", evaluate(engine, family, holdout)
        )
    if args.libraries:
        logging.getLogger("tldextract").setLevel(logging.CRITICAL)
        _table(
            "presidio-analyzer pattern recognizers on the pii rows", presidio_scores(load("pii"))
        )
        _table(
            "detect-secrets on the secret rows (any secret found)",
            {"secret": detect_secrets_scores(load("secret"))},
        )


if __name__ == "__main__":
    main()
