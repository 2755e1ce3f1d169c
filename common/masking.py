"""Masking secrets in what the agent shows: URLs with a password, command lines with API keys
or tokens, and free text (log lines, tracebacks, vLLM's output).

Two layers, because neither alone is enough: the secrets the configuration holds are known
exactly and replaced wherever they appear (`mask_text(text, known)`); keys the agent never
saw (a client's `Authorization` line quoted in an aiohttp parse error, a URL's password)
are found by their shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

MASK = "********"

# A command-line flag whose value is a secret: --api-key, --hf-token, --password, ...
_SECRET_FLAG = re.compile(r"^--?[\w.-]*(key|token|secret|passw(or)?d|credential)[\w.-]*$", re.I)
# NAME=value where NAME looks like a secret (an environment-style argument).
_SECRET_ASSIGN = re.compile(
    r"^([\w.-]*(key|token|secret|passw(or)?d|credential)[\w.-]*)=(.+)$", re.I
)
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> scheme://user:********@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:)[^\s/@'\"]+@", re.I), rf"\1{MASK}@"),
    # An Authorization header, as sent or quoted in a parse error: everything to the line's
    # or the quoted bytes' end (a malformed value may hold any byte but a quote or newline).
    (
        re.compile(r"((?:proxy-)?authorization\s*[:=]\s*)[^'\"\r\n]+", re.I),
        rf"\1{MASK}",
    ),
    (re.compile(r"(\b(?:bearer|basic)\s+)[^\s'\",;]+", re.I), rf"\1{MASK}"),
    # api-key / x-api-key / token headers and key=value or 'api_key': [...] forms.
    (
        re.compile(
            r"((?:x-)?(?:api[-_]?key|[\w-]*token|secret|passw(?:or)?d)['\"]?\s*[:=]\s*"
            r"[\[\(]?\s*['\"]?)[^\s'\",\]\)]+",
            re.I,
        ),
        rf"\1{MASK}",
    ),
)


def mask_url(url: str) -> str:
    """`url` with the password of its user-info part masked (the rest unchanged)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def mask_argv(argv: Sequence[str]) -> list[str]:
    """A command line with the value of every secret-looking flag masked: `--api-key X`,
    `--api-key=X`, `--hf-token X`, `HF_TOKEN=X`; URLs in it lose their password."""
    out: list[str] = []
    secret_next = False
    for arg in argv:
        if secret_next and not arg.startswith("--"):
            out.append(MASK)
            secret_next = False
            continue
        secret_next = False
        flag, eq, _ = arg.partition("=")
        if arg.startswith("-") and _SECRET_FLAG.match(flag):
            out.append(f"{flag}={MASK}" if eq else arg)
            secret_next = not eq
        elif (m := _SECRET_ASSIGN.match(arg)) is not None:
            out.append(f"{m.group(1)}={MASK}")
        else:
            out.append(mask_url(arg) if "://" in arg else arg)
    return out


def argv_secrets(argv: Sequence[str]) -> list[str]:
    """The secret values `mask_argv` hides in `argv` (to mask them elsewhere too)."""
    masked = mask_argv(argv)
    found = []
    for before, after in zip(argv, masked, strict=True):
        if before != after:
            if after == MASK:
                found.append(before)
            elif "=" in before and after.endswith(f"={MASK}"):
                found.append(before.partition("=")[2])
            elif (password := _url_password(before)) is not None:
                found.append(password)
    return found


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def url_secrets(url: str | None) -> list[str]:
    """The password in `url`'s user-info, if any, as a list (empty when none)."""
    password = _url_password(url) if url else None
    return [password] if password else []


def mask_text(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every `known` secret and every secret-shaped fragment masked."""
    for secret in sorted(known, key=len, reverse=True):  # longest first: no partial leftovers
        if secret:
            text = text.replace(secret, MASK)
    for pattern, repl in _TEXT_PATTERNS:
        text = pattern.sub(repl, text)
    return text
