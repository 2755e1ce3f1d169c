"""Text descriptors at the edge, and the domain classifier's drift on code against prose."""

from __future__ import annotations

import random

import numpy as np
import pytest

from alerts.drift import text

pytestmark = pytest.mark.unit
WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "that",
    "with",
    "as",
    "on",
    "by",
    "at",
    "from",
    "model",
    "request",
    "window",
    "latency",
    "token",
    "answer",
    "question",
    "summary",
    "customer",
    "order",
    "review",
    "report",
]


def prose(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30))).capitalize() + "."
        for _ in range(n)
    ]


def code(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"def f{i}(x):\n    return x * {rng.randint(0, 99)} + len(str(x))  # {rng.choice(WORDS)}"
        for i in range(n)
    ]


def test_describe_counts_a_known_text():
    d = text.describe("Hi World 42!\nПривет 日本", ("world", "HI"))
    assert d["chars"] == 22 and d["words"] == 5 and d["lines"] == 2
    assert d["mean_word_length"] == pytest.approx(18 / 5)
    assert d["digit_share"] == pytest.approx(2 / 22)
    assert d["upper_share"] == pytest.approx(3 / 22)  # H, W, П
    assert d["non_letter_share"] == pytest.approx(3 / 22)  # 4, 2, !
    assert d["non_ascii_letter_share"] == pytest.approx(8 / 22)
    assert d["script_cyrillic_share"] == pytest.approx(6 / 22)
    assert d["script_cjk_share"] == pytest.approx(2 / 22)
    assert d["trigger_words"] == 2
    assert set(d) == set(text.DESCRIPTORS)


def test_the_ascii_fast_path_counts_as_the_general_one():
    rng = random.Random(1)
    alphabet = "aZ09 !\n_-.,Éx"[:11]  # ASCII only
    for _ in range(200):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        # Two private paths held to each other: `describe` only ever takes one of them.
        assert text._ascii_counts(s)[:3] == text._counts(s)[:3]


def test_non_text_and_empty_text_describe_as_zeros():
    for value in (None, 3, ""):
        d = text.describe(value)
        assert all(v == 0.0 for v in d.values())


def test_code_against_prose_drifts_far_beyond_055():
    auc, p, _ = text.domain_test(prose(200, 1), code(200, 2))
    assert auc > 0.95 and p < 1e-10
    small_auc, small_p, _ = text.domain_test(prose(20, 1), code(20, 2))
    assert small_auc > 0.95 and small_p < 1e-3


def test_two_halves_of_one_corpus_do_not_drift():
    corpus = prose(800, 3)
    auc, p, _ = text.domain_test(corpus[:400], corpus[400:])
    assert auc < 0.55 and p > 0.05


def test_on_small_samples_the_mann_whitney_p_holds_alpha_where_055_does_not():
    flagged_fixed = flagged_null = 0
    for seed in range(100):
        corpus = prose(24, 100 + seed)
        auc, p, _ = text.domain_test(corpus[:12], corpus[12:], seed=seed)
        flagged_fixed += auc > 0.55
        flagged_null += p < 0.05
    assert flagged_null / 100 <= 0.1
    assert flagged_fixed / 100 >= 0.25


def test_the_null_quantile_is_mann_whitneys_normal_approximation():
    null = text.AucNull(50, 70)
    assert null.sd == pytest.approx(np.sqrt(121 / (12 * 50 * 70)))
    assert null.quantile(0.5) == pytest.approx(0.5)
    assert null.quantile(0.025) == pytest.approx(0.5 + 1.959964 * null.sd)


def test_the_descriptor_modules_import_no_scipy_numpy_or_sklearn_at_load():
    # The agent's safety thread loads these on the first request: importing scipy there held
    # the GIL for hundreds of milliseconds and stalled the event loop.
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "alerts" / "drift"
    heavy = {"numpy", "scipy", "sklearn"}
    for name in ("text.py", "descriptors.py", "__init__.py"):
        tree = ast.parse((root / name).read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        mods = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
        assert not {m.split(".")[0] for m in mods} & heavy, name
