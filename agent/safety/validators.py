"""Checks that turn a pattern match into a finding: checksums and plausibility tests.

Each takes the matched text and returns True when it really is what the rule names.
They are what keeps the patterns precise on order numbers, hashes, timestamps and code.
"""

from __future__ import annotations

import ipaddress

# ISO 13616 IBAN lengths by country (the registry's list, SWIFT, 2024).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Issuer prefixes of the major card schemes (Visa, Mastercard, Amex, Discover, JCB,
# Diners, UnionPay, Maestro): Luhn alone lets one random number in ten through.
_CARD_PREFIXES: tuple[str, ...] = (
    *("4", "34", "37", "30", "36", "38", "35", "6011", "62", "64", "65", "50", "56"),
    *(str(p) for p in range(51, 56)),
    *("57", "58", "67"),
)
# Publicly used example numbers that are not anyone's SSN (SSA, "invalid SSNs").
_SSN_EXAMPLES = frozenset({"078051120", "219099999", "123456789"})
_FILE_EXTENSIONS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "svg",
        "webp",
        "bmp",
        "ico",
        "tif",
        "tiff",
        "pdf",
        "js",
        "ts",
        "css",
        "html",
        "py",
        "md",
        "txt",
        "json",
        "yaml",
        "yml",
    ]
)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check digit of a card number is correct."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(match: str) -> bool:
    """13-19 digits, a known scheme prefix, evenly grouped, and a correct Luhn digit."""
    digits = _digits(match)
    if not 13 <= len(digits) <= 19:
        return False
    if not (digits.startswith(_CARD_PREFIXES) or 2221 <= int(digits[:4]) <= 2720):
        return False
    groups = match.replace("-", " ").split(" ")
    if len(groups) > 1 and not (
        all(len(g) == 4 for g in groups[:-1]) or [len(g) for g in groups] == [4, 6, 5]
    ):
        return False
    return luhn_ok(digits)


def iban_ok(match: str) -> bool:
    """Right length for its country and ISO 7064 mod 97-10 remainder 1."""
    s = match.replace(" ", "").upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ssn_ok(match: str) -> bool:
    """Area, group and serial in the ranges the SSA issues; not a famous example number."""
    d = _digits(match)
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in _SSN_EXAMPLES


def phone_ok(match: str) -> bool:
    """8 to 15 digits (E.164), not all the same digit."""
    d = _digits(match)
    return 8 <= len(d) <= 15 and len(set(d)) > 2


def nanp_ok(match: str) -> bool:
    """North American numbers: area code and exchange do not start with 0 or 1."""
    d = _digits(match)
    if len(d) == 11:
        d = d[1:]
    return len(d) == 10 and d[0] not in "01" and d[3] not in "01" and d[1:3] != "11"


def email_ok(match: str) -> bool:
    """Not a retina asset name such as `icon@2x.png`."""
    return match.rsplit(".", 1)[-1].lower() not in _FILE_EXTENSIONS


def ipv6_ok(match: str) -> bool:
    """A real IPv6 address with at least three hex groups (not `a::b` from C++ code)."""
    try:
        ipaddress.IPv6Address(match)
    except ValueError:
        return False
    return sum(1 for g in match.split(":") if g) >= 3


def token_ok(match: str) -> bool:
    """A credential-looking token: letters and digits mixed (not an English word)."""
    tail = match.split()[-1] if " " in match else match
    has_digit = any(c.isdigit() for c in tail)
    has_alpha = any(c.isalpha() for c in tail)
    return has_digit and has_alpha


def url_password_ok(match: str) -> bool:
    """The password in `scheme://user:password@host` is a value, not a template placeholder."""
    creds = match.split("://", 1)[1].rsplit("@", 1)[0]
    password = creds.split(":", 1)[1]
    return not (
        password[0] in "{$<%*[" or password.lower() in ("password", "pass", "passwd", "secret")
    )
