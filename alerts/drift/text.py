"""Text drift without a downloaded model: cheap descriptors, and a domain classifier.

`describe` runs at the edge on every request when text capture is off, so it is a few
regular-expression passes in C over the text, no per-character Python loop.

The domain classifier follows Evidently's text content drift
(evidently/utils/data_drift_utils.py, `calculate_text_drift_score`): a classifier learns
to tell reference texts from current ones; drift when its ROC AUC > 0.55
(stattests/text_content_drift_abs.py, default_threshold 0.55). Evidently's vectoriser
(TF-IDF with English stop words) is replaced by hashed character n-grams (no vocabulary,
any language), and its single 50/50 split by 5-fold cross-validated out-of-fold scores,
on small samples the AUC of a classifier that learned nothing still wanders far from 0.5
(a fixed 0.55 flags about 40% of pairs of 12 texts from one corpus), so its p-value is
Mann-Whitney's (the exact form of Evidently's `roc_auc_random_classifier_percentile`).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

# numpy, scipy and sklearn are imported where the domain test uses them: `describe` runs in
# the agent's safety thread, where importing scipy.stats on the first request held the GIL
# (and so stalled the event loop) for hundreds of milliseconds.

_NON_LETTER = re.compile(r"[\W\d_]+")
_NON_DIGIT = re.compile(r"\D+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_ASCII = bytes(range(128))
_ASCII_LETTERS = bytes(c for c in _ASCII if chr(c).isalpha())
_ASCII_DIGITS = b"0123456789"
_ASCII_UPPER = bytes(c for c in _ASCII if chr(c).isupper())
SCRIPTS = {
    "latin_ext": "\u00c0-\u024f\u1e00-\u1eff",
    "greek": "\u0370-\u03ff",
    "cyrillic": "\u0400-\u04ff",
    "hebrew": "\u0590-\u05ff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "indic": "\u0900-\u0dff",
    "cjk": "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af",
}
_SCRIPT = {name: re.compile(f"[{ranges}]") for name, ranges in SCRIPTS.items()}
DESCRIPTORS = (
    "chars",
    "words",
    "mean_word_length",
    "non_letter_share",
    "digit_share",
    "upper_share",
    "non_ascii_letter_share",
    *(f"script_{name}_share" for name in SCRIPTS),
    "lines",
    "trigger_words",
)


@functools.lru_cache(maxsize=16)
def _lowered(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w.lower() for w in words if w)


def describe(text: str, trigger_words: tuple[str, ...] = ()) -> dict[str, float]:
    """Descriptors of one text (names in DESCRIPTORS); shares are of its characters.

    Words are whitespace-separated tokens. Non-text input is described as the empty
    text, never raised on: this runs on the request path.
    """
    if not isinstance(text, str):
        text = ""
    n = len(text)
    tokens = text.split()
    solid = sum(map(len, tokens))  # characters that are not whitespace
    letters, digits, upper, foreign = _ascii_counts(text) if text.isascii() else _counts(text)
    out = {
        "chars": float(n),
        "words": float(len(tokens)),
        "mean_word_length": solid / len(tokens) if tokens else 0.0,
        "non_letter_share": _share(solid - letters, n),
        "digit_share": _share(digits, n),
        "upper_share": _share(upper, n),
        "non_ascii_letter_share": _share(letters - _ascii_letter_count(text), n),
    }
    for name, pattern in _SCRIPT.items():
        hits = len("".join(pattern.findall(foreign))) if foreign else 0
        out[f"script_{name}_share"] = _share(hits, n)
    out["lines"] = float(text.count("\n") + 1 if text else 0)
    out["trigger_words"] = float(_trigger_count(text, trigger_words))
    return out


def _trigger_count(text: str, words: tuple[str, ...]) -> int:
    """Occurrences of the trigger phrases, case-insensitive (str.count: 30x a regex here)."""
    if not words:
        return 0
    lower = text.lower()
    return sum(lower.count(w) for w in _lowered(tuple(words)))


def _ascii_counts(text: str) -> tuple[int, int, int, str]:
    """Letters, digits, uppercase letters of an ASCII text, by bytes.translate in C."""
    b = text.encode("ascii")
    n = len(b)
    return (
        n - len(b.translate(None, _ASCII_LETTERS)),
        n - len(b.translate(None, _ASCII_DIGITS)),
        n - len(b.translate(None, _ASCII_UPPER)),
        "",
    )


def _counts(text: str) -> tuple[int, int, int, str]:
    """Letters, digits, uppercase letters and the non-ASCII characters of any text."""
    letters = len(_NON_LETTER.sub("", text))
    digits = len(_NON_DIGIT.sub("", text))
    return letters, digits, sum(map(str.isupper, text)), "".join(_NON_ASCII.findall(text))


def _ascii_letter_count(text: str) -> int:
    b = text.encode("ascii", "ignore")
    return len(b) - len(b.translate(None, _ASCII_LETTERS))


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _vectors(texts: list[str]):
    from sklearn.feature_extraction.text import HashingVectorizer

    hasher = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), n_features=2**16, alternate_sign=False
    )
    return hasher.transform([t if isinstance(t, str) else "" for t in texts])


@dataclass(frozen=True)
class AucNull:
    """Null of the held-out AUC: Mann-Whitney's, for the held-out class sizes."""

    n_reference: int
    n_current: int

    @property
    def sd(self) -> float:
        """Sd of the AUC of scores unrelated to the labels."""
        n1, n2 = self.n_reference, self.n_current
        return math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))

    def quantile(self, level: float) -> float:
        """The AUC whose (normal approximation) p-value is `level`."""
        from scipy import stats

        return float(0.5 + self.sd * stats.norm.isf(level))


def domain_test(
    reference: list[str], current: list[str], seed: int = 0
) -> tuple[float, float, AucNull]:
    """(ROC AUC, p-value, null) of a classifier telling current texts from reference ones.

    Trained on a stratified half, scored on the other half, as Evidently splits: scores of
    held-out texts from a model that never saw their labels make the AUC exactly
    Mann-Whitney's U / (n1 n2) under no drift, so scipy's `mannwhitneyu` gives its p-value
    (exact on small samples). Cross-validated out-of-fold scores were tried first: their
    AUC varied more than Mann-Whitney's (sd 0.142 against 0.120 at 12 texts a side),
    flagging 12% of pairs from one corpus at p < 0.05.
    """
    import numpy as np
    from scipy import stats
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    y = np.r_[np.zeros(len(reference)), np.ones(len(current))]
    vectors = _vectors([*reference, *current])
    x_fit, x_test, y_fit, y_test = train_test_split(
        vectors, y, test_size=0.5, stratify=y, random_state=seed
    )
    # Evidently's classifier: a linear model with modified Huber loss trained by SGD
    model = SGDClassifier(
        loss="modified_huber", alpha=1e-4, max_iter=50, tol=None, random_state=seed
    )
    scores = model.fit(x_fit, y_fit).decision_function(x_test)
    cur, ref = scores[y_test == 1], scores[y_test == 0]
    p = stats.mannwhitneyu(cur, ref, alternative="greater").pvalue
    return float(roc_auc_score(y_test, scores)), float(p), AucNull(len(ref), len(cur))
