"""Masking secrets in URLs, command lines, free text, and the config shown to users."""

from __future__ import annotations

import pytest
import yaml

from agent.config import load_settings, masked_dict, secret_values
from common.masking import MASK, argv_secrets, mask_argv, mask_text, mask_url

pytestmark = pytest.mark.unit


def test_url_password_is_masked_and_the_rest_kept():
    assert mask_url("https://elastic:s3cr3t@es.example:9200/path?q=1") == (
        f"https://elastic:{MASK}@es.example:9200/path?q=1"
    )
    assert mask_url("http://127.0.0.1:8001") == "http://127.0.0.1:8001"
    assert mask_url("http://user@host") == "http://user@host"  # no password, nothing to hide


def test_secret_flags_in_a_command_line_are_masked_in_every_form():
    argv = ["--api-key", "sk-one", "--max-num-seqs", "4", "--hf-token=hf-two", "HF_TOKEN=three"]
    argv += ["--root-url", "http://u:four4@h", "--api-key"]  # a trailing flag with no value
    masked = mask_argv(argv)
    assert masked == [
        "--api-key",
        MASK,
        "--max-num-seqs",
        "4",
        f"--hf-token={MASK}",
        f"HF_TOKEN={MASK}",
        "--root-url",
        f"http://u:{MASK}@h",
        "--api-key",
    ]
    assert argv_secrets(argv) == ["sk-one", "hf-two", "three", "four4"]


@pytest.mark.parametrize(
    "text",
    [
        # aiohttp's parse error quotes the raw header line, control byte included
        "Invalid header value char:\n\n    b'Authorization: Bearer sk-SECRET\\x01zz'\n",
        "    b'Authorization : Bearer sk-SECRET'",
        "authorization=Basic sk-SECRET",
        "x-api-key: sk-SECRET",
        "non-default args: {'model': 'm', 'api_key': ['sk-SECRET'], 'port': 8001}",
        "POST https://elastic:sk-SECRET@es:9200/_bulk failed",
        "hf_token=sk-SECRET",
    ],
)
def test_secret_shaped_text_is_masked(text):
    masked = mask_text(text)
    assert "SECRET" not in masked and MASK in masked


def test_known_secrets_are_masked_anywhere_and_ordinary_text_is_kept():
    assert mask_text("key is plainword123 here", ["plainword123"]) == f"key is {MASK} here"
    ordinary = "max_tokens=16 prompt_tokens: 5 tokenizer=bpe http://127.0.0.1:8001/v1"
    assert mask_text(ordinary) == ordinary


SECRET_CONFIG = """
upstream: {url: "https://up:upPass1@vllm.internal:8001"}
tenants: {api_keys: {acme: sk-tenant-key-1}}
elasticsearch: {url: "https://elastic:esPass2@es:9200"}
otel: {endpoint: "https://otel:otelPass3@collector:4318/v1/traces", headers: {x-key: hdrSecret4}}
serving: {extra_args: [--api-key, vllmKey5, --max-num-seqs, "8", --hf-token=hfTok6]}
"""
SECRETS = ("upPass1", "sk-tenant-key-1", "esPass2", "otelPass3", "hdrSecret4", "vllmKey5", "hfTok6")


def test_config_show_masks_every_secret_and_keeps_the_rest(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(SECRET_CONFIG)
    settings = load_settings(f)
    shown = yaml.safe_dump(masked_dict(settings))
    assert not [s for s in SECRETS if s in shown]
    data = yaml.safe_load(shown)
    assert data["elasticsearch"]["url"] == f"https://elastic:{MASK}@es:9200"
    assert data["serving"]["extra_args"] == [
        "--api-key",
        MASK,
        "--max-num-seqs",
        "8",
        f"--hf-token={MASK}",
    ]
    assert secret_values(settings) >= set(SECRETS)
