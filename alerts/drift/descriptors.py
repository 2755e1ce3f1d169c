"""Text descriptors of one request's prompt and completion, as the record carries them.

Computed where the texts are (the safety stage, off the request path) when text capture
is off, so drift of prompts and completions can be measured without storing any text;
with capture on, the record source computes the same from the stored (redacted) text.
Keys are `prompt_<descriptor>` and `completion_<descriptor>`: the record frame's columns.
"""

from __future__ import annotations


def text_stats(prompt: str | None, completion: str | None) -> dict[str, float] | None:
    """Descriptors of both texts (an empty or absent text adds none); None when neither."""
    if not (prompt or completion):
        return None
    from alerts.drift.text import describe  # loaded on first use: not at agent import

    out: dict[str, float] = {}
    for side, text in (("prompt", prompt), ("completion", completion)):
        if text:
            out.update({f"{side}_{k}": float(v) for k, v in describe(text).items()})
    return out or None
