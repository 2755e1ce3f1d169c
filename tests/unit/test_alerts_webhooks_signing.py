"""Signatures: good, tampered, stale, malformed; and the README's receiver snippet run
against a signed delivery."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.webhooks import delivery, signing
from alerts.webhooks.cli import make_test_notification
from alerts.webhooks.config import WebhookConfig

pytestmark = pytest.mark.unit

NOW = 1714557600
BODY = b'{"status":"firing"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = signing.sign("s3cret", BODY, NOW + 0.9)
    expected = hmac.new(b"s3cret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    ("body", "secret", "now", "ok"),
    [
        (BODY, "s3cret", NOW + 299, True),
        (BODY + b" ", "s3cret", NOW, False),  # tampered body
        (BODY, "other", NOW, False),  # wrong secret
        (BODY, "s3cret", NOW + 301, False),  # stale: a replay
        (BODY, "s3cret", NOW - 301, False),  # from the future
    ],
)
def test_verify(body, secret, now, ok):
    header = signing.sign("s3cret", BODY, NOW)
    assert signing.verify(header, body, secret, tolerance_s=300, now=now) is ok


@pytest.mark.parametrize(
    "header",
    ["", "v1=abc", "t=abc,v1=00", "t=²,v1=00", f"t={NOW}", f"t={NOW},t={NOW},v1=00"],
)
def test_verify_refuses_malformed_headers(header):
    assert signing.verify(header, BODY, "s3cret", now=NOW) is False


def test_verify_accepts_any_of_several_v1_during_a_key_rotation():
    good = signing.sign("new", BODY, NOW).split("v1=")[1]
    assert signing.verify(f"t={NOW},v1=deadbeef,v1={good}", BODY, "new", now=NOW)


def _readme_snippet() -> str:
    text = Path(__file__).parents[2].joinpath("README.md").read_text()
    section = text[text.index("\n## Webhooks\n") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_verifies_a_signed_delivery_and_refuses_replays():
    hook = WebhookConfig(name="ops", url="http://127.0.0.1/x", secret=SecretStr("k"))
    body, headers = delivery.request(hook, make_test_notification("ops", NOW), NOW)
    snippet: dict = {}
    exec(_readme_snippet(), snippet)  # the receivers' code, as the README shows it
    verify = snippet["verify"]
    header = headers["X-Inferwatch-Signature"]
    assert verify(header, body, "k", now=NOW + 10) is True
    assert verify(header, body.replace(b"firing", b"resolvd"), "k", now=NOW) is False
    assert verify(header, body, "k", now=NOW + 3600) is False
    assert verify(header, body, "wrong", now=NOW) is False
