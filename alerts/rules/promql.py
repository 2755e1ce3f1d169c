"""The series names a PromQL expression selects, found without a PromQL parser.

promtool checks syntax but cannot list the metrics an expression reads, so the names are
pulled out after removing what is not one: string literals, label matchers, grouping
label lists, range and offset durations, numbers, keywords and function calls.
"""

from __future__ import annotations

import re

# Strings first: a quoted "}" or "(" must not confuse the steps after.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
# A number swallows its trailing letters, so 1e6 or a duration never yields a name.
_TOKEN = re.compile(r"\d[\w.]*|[A-Za-z_:][\w:]*(?=\s*(\()?)")
_KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "atan2",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]
)


def metric_names(expr: str) -> set[str]:
    """Names of the series `expr` selects (metrics and recorded series)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    names = set()
    for m in _TOKEN.finditer(text):
        word = m.group(0)
        if word[0].isdigit() or m.group(1) or word.lower() in _KEYWORDS:
            continue  # a number, a function call, or a keyword
        names.add(word)
    return names


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(name, label names matched) for each `name{...}` selector of `expr`."""
    text = _STRING.sub('""', expr)
    found = []
    for m in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^{}]*)\}", text):
        labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", m.group(2)))
        found.append((m.group(1), labels))
    return found


_AGGREGATION = re.compile(r"\b(?:by|without)\s*\(([^()]*)\)\s*\(")


def groupings(expr: str) -> list[tuple[set[str], str]]:
    """(labels, inner expression) for each `by (...)` / `without (...)` clause written
    before its operand (`sum by (a) (x)`); the trailing form `sum(x) by (a)` is not seen."""
    text = _STRING.sub('""', expr)
    found = []
    for m in _AGGREGATION.finditer(text):
        depth, end = 1, m.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        labels = {word.strip() for word in m.group(1).split(",") if word.strip()}
        found.append((labels, text[m.end() : end - 1]))
    return found
