"""The edge: what a client sends is cleaned once, before anything else reads it.

aiohttp decodes header bytes as UTF-8 with `surrogateescape`, so a non-UTF-8 byte reaches
the handler as a lone surrogate ('t\\xff' arrives as 't\\udcff'). Such a string cannot be
encoded again: not into the exposition text, not into SQLite, not into a forwarded header.
Every client-supplied string that the agent keeps or forwards is checked here; a bad one is
a 400 naming the header, never a 500 later and far away.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

from pydantic import TypeAdapter

from agent import errors

MAX_ID_CHARS = 128
MAX_TENANT_CHARS = 64
# Decoding rounds for path classification: `%252F` is `%2F` after one round, `/` after two.
_DECODE_ROUNDS = 4
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces


class EdgeError(errors.Refusal):
    """A request refused at the edge: status, error type and a message for the client."""


def _bad_header(name: str, why: str) -> EdgeError:
    return EdgeError(400, errors.BAD_REQUEST, f"header {name!r} {why}")


def clean_text(name: str, value: str, max_chars: int) -> str:
    """`value` stripped, if it is valid UTF-8, printable and at most `max_chars` long."""
    value = value.strip()
    if len(value) > max_chars:
        raise _bad_header(name, f"is longer than {max_chars} characters")
    if not value.isprintable():  # control characters, and lone surrogates (bytes not UTF-8)
        raise _bad_header(name, "must be printable UTF-8 text")
    return value


def client_request_id(value: str | None) -> str | None:
    """The client's `x-request-id`, kept as a field: printable ASCII, at most 128 chars."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _CLIENT_ID.match(value):
        raise _bad_header("x-request-id", "must be 1 to 128 printable ASCII characters")
    return value


def check_headers(headers: Mapping[str, str]) -> None:
    """Every header value must be valid UTF-8 without control characters, or it cannot be
    forwarded (the client library would fail to encode it: a 500, with the record saying 200)."""
    for name, value in headers.items():
        if not _forwardable(value):
            raise _bad_header(_printable_name(name), "is not valid UTF-8 text")


def _forwardable(value: str) -> bool:
    # Lone surrogates (bytes that were not UTF-8) are not printable; tabs are legal in values.
    return value.isprintable() or all(c == "\t" or c.isprintable() for c in value)


def _printable_name(name: str) -> str:
    return name.encode("ascii", "backslashreplace").decode("ascii")[:64]


def canonical_path(raw_path: str) -> str:
    """The path as any upstream could understand it, for routing and nothing else.

    Percent-decoded until stable (a server behind may decode once more than we expect),
    backslashes as slashes, empty and `.` segments dropped, `..` applied, no trailing
    slash. `/v1/./chat/completions`, `/v1//chat/completions/`, `/v1/chat%2Fcompletions`
    and `/x/../v1/chat/completions` are all `/v1/chat/completions`. The query is not part
    of `raw_path`.
    """
    path = raw_path
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path, errors="surrogateescape")
        if decoded == path:
            break
        path = decoded
    if not path.isprintable():
        raise EdgeError(400, errors.BAD_REQUEST, "path must be printable text")
    segments: list[str] = []
    for seg in path.replace("\\", "/").split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    return "/" + "/".join(segments)


# vLLM's request models are pydantic models in lax mode: this adapter reads a boolean
# field exactly as vLLM will (1, "yes", "on", ... are true; null is the default, false).
_BOOL = TypeAdapter(bool | None)


def vllm_bool(value: object) -> bool:
    """A boolean request field as vLLM reads it; ValueError (pydantic's ValidationError)
    for a value vLLM would refuse."""
    return _BOOL.validate_python(value) is True
