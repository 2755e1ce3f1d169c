"""Regenerate the README's reference sections from their sources of truth.

`python -m agent.docs` rewrites the parts of README.md between the BEGIN/END markers:
the configuration reference (from the pydantic models' field descriptions) and the
metrics reference (from the catalogue). `python -m agent.docs --check` exits 1 if stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from agent.catalogue import load_catalogue, markdown_table
from agent.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(_rows(ann, key + "."))
            continue
        default = field.get_default(call_default_factory=True)
        env = "INFERWATCH_" + key.upper().replace(".", "__")
        rows.append(f"| `{key}` | `{default!r}` | `{env}` | {field.description or ''} |")
    return rows


def config_table() -> str:
    """The configuration reference as a Markdown table."""
    head = ["| key | default | environment | meaning |", "| --- | --- | --- | --- |"]
    return "\n".join(head + _rows(Settings, ""))


def _replace(text: str, tag: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {tag} -->", f"<!-- END {tag} -->"
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def render(text: str) -> str:
    """README text with both generated sections brought up to date."""
    text = _replace(text, "CONFIG", config_table())
    return _replace(text, "METRICS", markdown_table(load_catalogue()))


def main(argv: list[str]) -> int:
    current = README.read_text()
    fresh = render(current)
    if "--check" in argv:
        return 0 if fresh == current else 1
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
