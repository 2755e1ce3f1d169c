"""Which group an alert falls in, and the group key Alertmanager gives that group.

dispatch.go's getGroupLabels: the group's labels are the alert's values of the route's
`group_by` labels (those the alert has); `...` groups by all of them. The key is
aggrGroup.GroupKey(): `<route key>:<group labels>`, the route key of the root route
being `{}`, the labels formatted as prometheus/common's LabelSet.String() does
(`name="value"` items sorted and joined by ", ", values quoted as Go's %q).
"""

from __future__ import annotations

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


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def go_quote(value: str) -> str:
    """Go's strconv.Quote for the characters label values hold (printable text kept,
    control characters escaped)."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
