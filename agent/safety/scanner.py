"""One pass of every enabled rule over a text: hits, and the text with hits redacted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.safety.prefilter import Prefilter, Window
from agent.safety.rules import Rule


@dataclass(frozen=True, slots=True)
class Hit:
    """A confirmed match of rule `filter` at `text[start:end]`."""

    filter: str
    start: int
    end: int


_PAD = 8  # longer than any look-ahead of the rules


class Scanner:
    """Runs a fixed set of rules; compiled once, then shared by all requests (stateless)."""

    def __init__(self, rules: Iterable[Rule], prefilter: bool = True) -> None:
        rules = list(rules)
        self._rules = [(r.name, r.compile(), r.validate) for r in rules]
        self._pre = Prefilter(rules if prefilter else [])
        self.names = frozenset(r.name for r in rules)

    def scan(self, text: str) -> list[Hit]:
        """Every confirmed hit, ordered by position; a hit inside a longer one is dropped."""
        hits: list[Hit] = []
        todo: Iterable[tuple[int, list[Window] | None]]
        if self._pre.active:
            todo = self._pre.candidates(text).items()
        else:
            todo = ((i, None) for i in range(len(self._rules)))
        for i, windows in todo:
            name, regex, validate = self._rules[i]
            for lo, hi in windows or ((0, len(text)),):
                # Search a little past the window so look-aheads at its end see the real
                # text; a match ending past it would have been reported by the prefilter
                # (and the window widened), so such a match is an artefact of the cut.
                for m in regex.finditer(text, lo, hi + _PAD):
                    if m.end() <= hi and (validate is None or validate(m.group())):
                        hits.append(Hit(name, m.start(), m.end()))
        if len(hits) > 1:
            hits = _outermost(hits)
        return hits


def _outermost(hits: list[Hit]) -> list[Hit]:
    """Drop hits lying inside another rule's longer hit (the email inside a URL password)."""
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[Hit] = []
    reach = -1
    for h in hits:
        if h.end <= reach and kept and kept[-1].filter != h.filter:
            continue
        kept.append(h)
        reach = max(reach, h.end)
    return kept


def redact(text: str, hits: list[Hit], mark: Callable[[str], str]) -> str:
    """`text` with each hit's span replaced by `mark(filter)`; overlapping spans merge."""
    out: list[str] = []
    pos = 0
    for h in sorted(hits, key=lambda h: h.start):
        if h.end <= pos:
            continue
        out.append(text[pos : max(pos, h.start)])
        if h.start >= pos:
            out.append(mark(h.filter))
        pos = h.end
    out.append(text[pos:])
    return "".join(out)


def placeholder(filter_name: str) -> str:
    """The default redaction mark, e.g. `[REDACTED:pii.email]`."""
    return f"[REDACTED:{filter_name}]"
