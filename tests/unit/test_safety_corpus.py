"""Precision and recall on the labelled corpus meet the targets; the corpus is reproducible."""

import json
import runpy

import pytest

from bench.safety_quality import CORPUS, FAMILIES, corpus_engine, evaluate, load, ratios

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def engine():
    return corpus_engine()


@pytest.mark.parametrize("family", FAMILIES)
def test_corpus_has_200_positives_and_200_negatives(family):
    rows = load(family)
    assert sum(1 for r in rows if r["labels"]) >= 200
    assert sum(1 for r in rows if not r["labels"]) >= 200


@pytest.mark.parametrize("family", ["pii", "secret"])
def test_each_pii_and_secret_filter_meets_the_targets(engine, family):
    for label, counts in evaluate(engine, family, load(family)).items():
        precision, recall = ratios(counts)
        assert precision >= 0.95 and recall >= 0.9, (label, counts)


@pytest.mark.parametrize("family", ["injection", "blocklist"])
def test_injection_and_blocklist_are_measured_and_useful(engine, family):
    total = sum(
        evaluate(engine, family, load(family)).values(), start=__import__("collections").Counter()
    )
    precision, recall = ratios(total)
    assert precision >= 0.9 and recall >= 0.8, total


def test_generator_reproduces_the_committed_files(tmp_path):
    script = CORPUS / "generate.py"
    copy = tmp_path / "generate.py"
    copy.write_text(script.read_text())
    runpy.run_path(str(copy), run_name="__main__")  # writes beside itself, as in the checkout
    for family in FAMILIES:
        assert (tmp_path / f"{family}.jsonl").read_text() == (
            CORPUS / f"{family}.jsonl"
        ).read_text()
    assert json.loads((tmp_path / "blocklist_terms.json").read_text())
