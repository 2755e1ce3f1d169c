"""Request fields whose text the safety filters cannot read: refused while a filter must act.

Output: vLLM hands the generated text back outside the text fields when asked: each
token's text and its top alternatives in `logprobs` / `top_logprobs` (as ids with
`return_tokens_as_token_ids`), the token ids with `return_token_ids` (`POST /detokenize`,
on the default allow-list, turns them back into text), and the model's top predictions at
every prompt position with `prompt_logprobs`. Redaction rewrites the text fields only and
a block empties them, so while an output filter redacts or blocks, such a request is
refused (400) rather than answered around the filter.

Input: a prompt as token ids or embeddings has no text for the input filters to read
(`agent.safety.walk` finds them); while an input filter redacts or blocks it is refused,
and the message says to send text instead.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.edge import vllm_bool
from agent.record import OP_CHAT, OP_COMPLETION

# Not a rule: the verdict of a request refused for a field the filters cannot read.
UNREADABLE = "scan.unreadable"


def _bool_off(v: object) -> bool:
    """False as vLLM reads a bool field (`"yes"` and `1` ask for it too); a value it cannot
    read as a bool (an int field's 5) counts as asking."""
    try:
        return not vllm_bool(v)
    except ValueError:
        return False


def _unset(v: object) -> bool:
    """An int field that returns tokens whenever set: completions' `logprobs: 0` (or
    `false`, read as 0) still returns every sampled token's text."""
    return v is None


_OUTPUT_FIELDS: dict[str, tuple[tuple[str, Callable[[object], bool]], ...]] = {
    OP_CHAT: (
        ("logprobs", _bool_off),
        ("top_logprobs", _bool_off),
        ("prompt_logprobs", _unset),
        ("return_token_ids", _bool_off),
        ("return_tokens_as_token_ids", _bool_off),
    ),
    OP_COMPLETION: (
        ("logprobs", _unset),
        ("prompt_logprobs", _unset),
        ("return_token_ids", _bool_off),
        ("return_tokens_as_token_ids", _bool_off),
    ),
}


def output_field(body: dict, operation: str) -> tuple[str, str] | None:
    """(message, field) when `body` asks for generated text or token ids outside the text
    fields the output filters rewrite; None otherwise."""
    for name, off in _OUTPUT_FIELDS.get(operation, ()):
        if name in body and not off(body[name]):
            return (
                f"`{name}` is refused while output safety filters redact or block: the"
                " tokens or token ids it returns would carry the completion past them."
                f" Send the request without `{name}`.",
                name,
            )
    return None


def input_field(name: str, kind: str) -> tuple[str, str]:
    """(message, field) for a prompt in `name` given as `kind` (token ids, embeddings)."""
    return (
        f"`{name}` holds the prompt as {kind}, which the input safety filters (redact or"
        " block) cannot read. Send the prompt as text.",
        name,
    )
