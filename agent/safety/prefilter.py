"""A Hyperscan prefilter: one pass over the text tells which rules can match, and where.

Every rule's pattern is compiled in Hyperscan's prefilter mode (it may report a rule that
does not really match, never miss one that does). For rules of bounded length every match
end is reported, and Python's `re` then only looks at a small window before each end;
unbounded rules report once and are then run over the whole text (they start with a
literal such as `sk-`, which `re` finds quickly). Without `hyperscan` every rule runs on
the whole text: correct, several times slower. Character classes and case folding are
ASCII on both sides (Unicode classes made Hyperscan's compile take a minute).
"""

from __future__ import annotations

import functools
import logging
import threading

from agent.safety.rules import Rule

log = logging.getLogger("inferwatch.safety")

Window = tuple[int, int]


@functools.lru_cache(maxsize=8)
def _database(patterns: tuple[tuple[str, bool, bool], ...]):
    """A block-mode database for (pattern, ignore_case, bounded) triples (cached: ~0.5 s)."""
    import hyperscan as hs

    def flags(ci: bool, bounded: bool) -> int:
        f = hs.HS_FLAG_PREFILTER | hs.HS_FLAG_UTF8
        f |= hs.HS_FLAG_CASELESS if ci else 0
        return f | (0 if bounded else hs.HS_FLAG_SINGLEMATCH)

    db = hs.Database(mode=hs.HS_MODE_BLOCK)
    db.compile(
        expressions=[p.encode() for p, _, _ in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[flags(ci, b) for _, ci, b in patterns],
    )
    return db


def _windows(ends: list[int], reach: int, size: int) -> list[Window]:
    """Merged [end - reach, end + 1] windows (one character after, for look-aheads)."""
    out: list[Window] = []
    for e in sorted(ends):
        lo, hi = max(0, e - reach), min(size, e + 1)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


class Prefilter:
    """`candidates(text)` -> {rule index: windows to run it on, or None for the whole text}.

    Safe from several threads: each thread scans with its own scratch space (Hyperscan
    refuses a scratch space that is in use, and releases the GIL while it scans, so the
    event loop and the scan thread do scan at once).
    """

    def __init__(self, rules: list[Rule]) -> None:
        # A prefilter suffix puts one more character (the one after the match) before the end.
        # 0: unbounded, the rule runs over the whole text.
        self._reach = [r.max_len + bool(r.prefilter_suffix) if r.max_len else 0 for r in rules]
        self._db = None
        self._local = threading.local()  # .scratch: this thread's scratch space
        if not rules:
            return
        key = tuple(
            (r.pattern + r.prefilter_suffix, r.ignore_case, r.max_len is not None) for r in rules
        )
        try:
            self._db = _database(key)
        except Exception as err:  # missing package or a pattern it cannot take
            log.warning("hyperscan prefilter off, every rule runs on every text: %s", err)

    @property
    def active(self) -> bool:
        return self._db is not None

    def _scratch(self):
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            import hyperscan as hs

            scratch = self._local.scratch = hs.Scratch(self._db)
        return scratch

    def candidates(self, text: str) -> dict[int, list[Window] | None]:
        db = self._db
        if db is None:  # not active: every rule may match anywhere
            return dict.fromkeys(range(len(self._reach)))
        ends: dict[int, list[int]] = {}
        db.scan(
            text.encode("utf-8", "replace"),
            match_event_handler=lambda rid, _f, to, _fl, _c: ends.setdefault(rid, []).append(to),
            scratch=self._scratch(),
        )
        if not ends:
            return {}  # the usual case: no rule can match
        # Hyperscan reports byte offsets: they are character offsets only for ASCII text.
        exact = text.isascii()
        size = len(text)
        return {
            rid: _windows(e, self._reach[rid], size) if exact and self._reach[rid] else None
            for rid, e in sorted(ends.items())
        }
