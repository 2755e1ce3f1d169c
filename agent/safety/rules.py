"""The built-in filter rules: a pattern and, where a pattern alone is not precise, a validator.

Rule names are `<family>.<kind>`; families are `pii`, `secret`, `injection` and
`blocklist`. Patterns are Python `re` syntax; the scanner also compiles them into one
Hyperscan prefilter database, so they should stay within what both understand.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from agent.safety import validators as v

FAMILIES = ("pii", "secret", "injection", "blocklist")


@dataclass(frozen=True, slots=True)
class Rule:
    """One filter: `pattern` finds candidates, `validate` (if any) confirms each match."""

    name: str
    pattern: str
    validate: Callable[[str], bool] | None = None
    ignore_case: bool = False
    # Longest possible match, when bounded: lets the scanner run `re` only on small windows
    # around the prefilter's reports. None: the whole text is scanned once the rule fires.
    max_len: int | None = None
    # Appended to the pattern in the prefilter only: for rules that must be followed by a
    # non-alphanumeric character (or the end), Hyperscan then reports one end per candidate
    # instead of one per possible length, which is what dense texts pay for.
    prefilter_suffix: str = ""

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]

    def compile(self):
        """An object with `re.Pattern.finditer`'s signature that finds this rule's matches."""
        # ASCII classes and case folding: the same meaning as in the Hyperscan prefilter.
        regex = re.compile(self.pattern, re.ASCII | (re.IGNORECASE if self.ignore_case else 0))
        return AtSignFinder(regex) if self.name == "pii.email" else regex


_LOCAL_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")


class AtSignFinder:
    """Email matches found from each `@`: walking back over the local part in Python is far
    cheaper than letting `re` try every word start of the text as a possible local part."""

    def __init__(self, regex: re.Pattern) -> None:
        self._regex = regex

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None):
        end = len(text) if endpos is None else endpos
        at = text.find("@", pos, end)
        while at >= 0:
            start = at
            while start > pos and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
                start -= 1
            while start < at and not text[start].isalnum():
                start += 1
            m = self._regex.match(text, start, end) if start < at else None
            if m is not None:
                yield m
            at = text.find("@", m.end() if m is not None else at + 1, end)


_NB = r"(?<![\w.+-])"  # not glued to a preceding word, number or address
_NA = r"(?![\w-]|\.\d)"  # not glued to a following one (a full stop may end the sentence)
_OCT = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9A-Fa-f]{1,4}"
_END = r"(?:[^A-Za-z0-9]|$)"

PII_RULES = (
    Rule(
        "pii.email",
        r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])",
        v.email_ok,
        max_len=340,
        prefilter_suffix=_END,
    ),
    Rule(
        "pii.card",
        # Not part of a longer run of digit groups (tracking numbers, 22-digit references).
        _NB + r"(?<!\d[ -])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w-]|[ .]\d)",
        v.card_ok,
        max_len=40,
        prefilter_suffix=_END,
    ),
    Rule(
        "pii.iban",
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])",
        v.iban_ok,
        max_len=44,
        prefilter_suffix=_END,
    ),
    Rule("pii.ssn", _NB + r"\d{3}-\d{2}-\d{4}" + _NA, v.ssn_ok, max_len=11, prefilter_suffix=_END),
    Rule(
        "pii.phone",
        _NB + r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}" + _NA,
        v.nanp_ok,
        max_len=30,
        prefilter_suffix=_END,
    ),
    Rule(
        "pii.phone",
        r"(?<![\w+])\+[2-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}" + _NA,
        v.phone_ok,
        max_len=30,
        prefilter_suffix=_END,
    ),
    Rule(
        "pii.ip",
        r"(?<![\w.])(?<!version )(?<!Version )"
        + rf"{_OCT}\.{_OCT}\.{_OCT}\.{_OCT}"
        + r"(?!\w|\.\d)",
        max_len=15,
        prefilter_suffix=_END,
    ),
    Rule(
        "pii.ip",
        rf"(?<![\w:.])(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}:){{0,6}}{_HEX}?::(?:{_HEX}:){{0,6}}{_HEX})"
        r"(?![\w:])",
        v.ipv6_ok,
        max_len=45,
        prefilter_suffix=_END,
    ),
)

SECRET_RULES = (
    Rule(
        "secret.private_key",
        # The body is base64 lines (16+ chars, so prose after an unterminated block is not
        # swallowed), optionally after RFC 1421 headers, up to the END line if it came.
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:\s*[A-Za-z-]+: [^\n]*)*"
        r"(?:\s*[A-Za-z0-9+/=]{16,})*(?:\s*[A-Za-z0-9+/=]{1,15})?"
        r"(?:\s*-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)?",
    ),
    Rule("secret.anthropic_key", r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{32,}"),
    Rule(
        "secret.openai_key",
        r"(?<![\w-])sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}",
        v.token_ok,
    ),
    Rule(
        "secret.aws_key",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])",
        max_len=20,
        prefilter_suffix=_END,
    ),
    Rule(
        "secret.aws_key",
        r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])",
        max_len=100,
        prefilter_suffix=_END,
    ),
    Rule(
        "secret.github_token",
        r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})(?!\w)",
    ),
    Rule("secret.gitlab_token", r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}"),
    Rule("secret.slack_token", r"(?<![\w-])xox[abprs]-(?:\d+-){1,3}[A-Za-z0-9-]{10,}"),
    Rule("secret.stripe_key", r"(?<!\w)(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,}"),
    Rule(
        "secret.google_api_key",
        r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])",
        max_len=39,
        prefilter_suffix=_END,
    ),
    Rule(
        "secret.huggingface_token",
        r"(?<![\w-])hf_[A-Za-z]{34,40}(?![\w-])",
        max_len=40,
        prefilter_suffix=_END,
    ),
    Rule("secret.jwt", r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    Rule("secret.bearer_token", r"(?i:bearer)\s+[A-Za-z0-9._~+/-]{20,}=*", v.token_ok),
    Rule(
        "secret.url_password",
        r"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@\"'<>]*:[^\s/@\"'<>]{3,}@[A-Za-z0-9.\[\]-]+",
        v.url_password_ok,
    ),
)

_W = r"(?:\s+\w+){0,4}"  # a few filler words ("all of your", "every one of the")
INJECTION_RULES = (
    Rule(
        "injection.override",
        r"\b(?:ignore|disregard|forget|skip|bypass|override)"
        + _W
        + r"\s+(?:previous|prior|preceding|above|earlier|initial|original|system|developer)"
        + r"\s+(?:\w+\s+)?(?:instructions?|prompts?|rules|directions|guidelines|directives)",
        ignore_case=True,
        max_len=400,
    ),
    Rule(
        "injection.prompt_leak",
        r"\b(?:reveal|print|show|repeat|output|display|leak|tell|give|dump|recite)(?:\s+(?:me|us|back))?"
        r"(?:\s+(?:your|the|all|of|full|exact|entire|complete|whole|verbatim))*"
        + r"\s+(?:system|hidden|secret|initial|original|developer)\s+(?:prompt|instructions)",
        ignore_case=True,
        max_len=400,
    ),
    Rule(
        "injection.jailbreak",
        r"\b(?:do anything now|you are (?:now )?dan\b|dan mode|jailbroken|jailbreak mode"
        r"|(?:you are|you're) (?:now )?(?:in|running in|operating in) developer mode"
        r"|(?:act|respond|behave|answer|reply) as (?:an? )?(?:unfiltered|uncensored|unrestricted|amoral)"
        r"|(?:without|free (?:of|from)|no)(?: any| all)?(?: ethical| moral| safety| content)?"
        r" (?:restrictions|filters|censorship)(?: whatsoever| of any kind| at all| from now on))",
        ignore_case=True,
        max_len=200,
    ),
    Rule(
        "injection.role_marker",
        r"<\|im_start\|>\s*system|\[/?INST\]|<\|system\|>|<<SYS>>"
        r"|(?m:^)[ \t]*#{2,}[ \t]*(?:system|new instructions)[ \t]*:",
        ignore_case=True,
        max_len=60,
    ),
)

BUILTIN_RULES: tuple[Rule, ...] = PII_RULES + SECRET_RULES + INJECTION_RULES


def blocklist_rule(terms: list[str]) -> Rule | None:
    """A case-insensitive whole-word rule for the configured blocklist terms (None if empty)."""
    words = [t.strip() for t in terms if t.strip()]
    if not words:
        return None
    alts = "|".join(r"\s+".join(re.escape(p) for p in w.split()) for w in words)
    longest = max(len(w) for w in words) * 4  # room for runs of whitespace between words
    return Rule("blocklist.term", rf"(?<!\w)(?:{alts})(?!\w)", ignore_case=True, max_len=longest)
