"""Label matchers in Alertmanager's syntax: `name="value"`, `!=`, `=~`, `!~`.

Matched on prometheus/alertmanager pkg/labels (parse.go, matcher.go): a matcher is
`name op value`, the value quoted or bare, several may be written `{a="1", b=~"x|y"}`;
regular expressions are anchored at both ends (`^(?:re)$`), so `=~"cost"` does not
match `cost-spike`. Python's `re` stands in for Go's RE2: the common syntax is the same,
and an expression either compiles in both or is refused here with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

OPS = ("=~", "!~", "!=", "=")  # longest first, so "=~" is not read as "=" plus "~..."
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # pkg/labels/parse.go's name pattern
_SPLIT = re.compile(r"""\s*([^=!~\s]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$""", re.S)


class MatcherError(ValueError):
    """A matcher that cannot be parsed; the message names the part that is wrong."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher. A missing label matches as the empty string, as in Alertmanager."""

    name: str
    op: str
    value: str
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies this matcher."""
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        # Built directly rather than by `make_matcher`: compile now (`re` caches it).
        regex = self._regex or re.compile(f"(?:{self.value})")
        hit = regex.fullmatch(got) is not None  # fullmatch: Go's ^(?:re)$
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def make_matcher(name: str, op: str, value: str) -> Matcher:
    """A matcher from its parts; `MatcherError` on a bad name, operator or regex."""
    if not _NAME.fullmatch(name):
        raise MatcherError(
            f"bad label name {name!r}: use letters, digits, _ and :, not starting with a digit"
        )
    if op not in OPS:
        raise MatcherError(f"bad operator {op!r}: use one of = != =~ !~")
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(f"(?:{value})")
        except re.error as err:
            raise MatcherError(f"bad regular expression {value!r} for {name}: {err}") from None
    return Matcher(name, op, value, regex)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `tenant="acme"` or `alertname=~"Cost.*"`."""
    m = _SPLIT.match(text)
    if not m:
        raise MatcherError(f"bad matcher {text!r}: expected NAME OP VALUE, OP one of = != =~ !~")
    name, op, raw = m.groups()
    if not name:
        raise MatcherError(f"bad matcher {text!r}: the label name is missing before {op!r}")
    return make_matcher(name, op, _unquote(raw, text))


def parse_matchers(texts: list[str] | str) -> list[Matcher]:
    """Matchers from a list of strings, or one `{a="1", b="2"}` / `a="1", b="2"` string."""
    if isinstance(texts, str):
        body = texts.strip()
        if body.startswith("{") and body.endswith("}"):
            body = body[1:-1]
        texts = _split_commas(body)
    return [parse_matcher(t) for t in texts if t.strip()]


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches the label set."""
    return all(m.matches(labels) for m in matchers)


def _unquote(raw: str, text: str) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise MatcherError(f"bad matcher {text!r}: the value has a stray double quote")
        return raw
    try:
        value = json.loads(raw)  # Go's escapes in a quoted value (\" \\ \n) are JSON's
    except ValueError:
        raise MatcherError(
            f"bad matcher {text!r}: the quoted value is not closed or has a bad escape"
        ) from None
    return value


def _split_commas(body: str) -> list[str]:
    # Split on commas outside double quotes, honouring backslash escapes inside them.
    parts: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in body:
        if ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = quoted
        elif ch == '"':
            quoted = not quoted
    parts.append("".join(cur))
    return parts
