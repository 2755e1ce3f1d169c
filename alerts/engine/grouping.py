"""Which group an alert falls in, and the group key Alertmanager gives that group.

dispatch.go's getGroupLabels: the group's labels are the alert's values of the route's
`group_by` labels (those the alert has); `...` groups by all of them. The key is
aggrGroup.GroupKey(): `<route key>:<group labels>`, the route key of the root route
being `{}`, the labels formatted as prometheus/common's LabelSet.String() does
(`name="value"` items sorted and joined by ", ", values quoted as Go's %q).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

ALL = "..."
ROOT_ROUTE_KEY = "{}"


def group_labels(labels: Mapping[str, str], group_by: list[str]) -> dict[str, str]:
    """The labels an alert is grouped by (all of them when `group_by` holds `...`)."""
    if ALL in group_by:
        return dict(labels)
    return {n: labels[n] for n in group_by if n in labels}


def group_key(labels: Mapping[str, str]) -> str:
    """Alertmanager's group key of the root route for these group labels."""
    items = sorted(f"{name}={go_quote(value)}" for name, value in labels.items())
    return f"{ROOT_ROUTE_KEY}:{{{', '.join(items)}}}"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(value: str) -> str:
    """Go's strconv.Quote: printable runes kept (unicode.IsPrint: letters, marks, numbers,
    punctuation, symbols and the ASCII space), the others escaped as \\xNN, \\uNNNN or
    \\UNNNNNNNN."""
    return '"' + "".join(_ESCAPES.get(ch) or _rune(ch) for ch in value) + '"'


def _rune(ch: str) -> str:
    if ch == " " or unicodedata.category(ch)[0] in "LMNPS":
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
