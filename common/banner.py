"""The ready banner printed on a terminal once a server listens."""

from __future__ import annotations

from collections.abc import Sequence


def format_banner(title: str, rows: Sequence[tuple[str, str]], tips: Sequence[str] = ()) -> str:
    """The ready banner: a title, aligned `name  value` rows, then tips."""
    width = max(len(name) for name, _ in rows)
    lines = [f"\n{title}"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines += [f"  {tip}" for tip in tips]
    return "\n".join(lines) + "\n"
