"""A per-request cap on the text the filters read, so that one huge body costs a bounded scan.

Measured (`python -m bench.safety_stall`, 2-core shared machine): a body of one test card
number a line (a validated hit every 20 bytes, the worst case found) scans at ~0.27 s per
MiB, English prose at ~2-5 ms per MiB. The default `max_scan_bytes` of 1 MiB covers a
256k-token prompt whole; it bounds the worst case to ~0.3 s of the scan thread's time.
"""

from __future__ import annotations

# What one more string costs at least: each is its own scan (~2 us however short), so a
# body of 500,000 one-letter strings (2 MiB of JSON) took 0.9 s with no floor; with it, a
# 1 MiB budget scans at most 16,384 strings (~30 ms), still room for hundreds of tools.
PER_STRING_BYTES = 64


class Budget:
    """UTF-8 bytes still to scan in one direction of one request.

    `take(text)` returns the part of `text` within what is left (all of it, a prefix, or
    "") and counts it, at least `per_string` bytes a string; `truncated` is set once
    some text was left out.
    """

    def __init__(self, limit: int, per_string: int = PER_STRING_BYTES) -> None:
        self.left = limit
        self.per_string = per_string
        self.scanned = 0  # bytes handed out
        self.truncated = False

    def take(self, text: str) -> str:
        """The prefix of `text` to scan (cut at a character boundary)."""
        if not text:
            return text
        if self.left <= 0:
            self.truncated = True
            return ""
        if text.isascii():  # O(1) in CPython: the usual case needs no encoding
            size = len(text)
            cut = text[: self.left] if size > self.left else text
            used = len(cut)
        else:
            raw = text.encode("utf-8", "surrogatepass")
            size = len(raw)
            cut = raw[: self.left].decode("utf-8", "ignore") if size > self.left else text
            used = min(size, self.left)
        self.left -= max(used, self.per_string)  # below 0: the next string is left out
        self.scanned += used
        self.truncated |= used < size
        return cut
