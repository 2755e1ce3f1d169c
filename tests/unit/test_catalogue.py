"""The catalogue: well-formed, and the README's metrics table is generated from it."""

import re
from pathlib import Path

import pytest

from agent.catalogue import load_catalogue, markdown_table
from agent.docs import render

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
GENAI_BUCKETS = {
    "gen_ai_server_request_duration_seconds": [
        0.01,
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        1.28,
        2.56,
        5.12,
        10.24,
        20.48,
        40.96,
        81.92,
    ],
    "gen_ai_server_time_to_first_token_seconds": [
        0.001,
        0.005,
        0.01,
        0.02,
        0.04,
        0.06,
        0.08,
        0.1,
        0.25,
        0.5,
        0.75,
        1,
        2.5,
        5,
        7.5,
        10,
    ],
    "gen_ai_server_time_per_output_token_seconds": [
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.75,
        1,
        2.5,
    ],
}


def test_names_are_valid_prometheus_and_counters_end_in_total():
    for name, spec in load_catalogue().items():
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name), name  # no colons
        assert spec.help.strip(), name
        if spec.type == "counter":
            assert name.endswith("_total"), name
        if spec.type == "histogram":
            assert list(spec.buckets) == sorted(spec.buckets) and spec.buckets, name
        for label in spec.labels:
            assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label) and not label.startswith("__")


def test_genai_bucket_bounds_follow_the_semantic_conventions():
    specs = load_catalogue()
    for name, bounds in GENAI_BUCKETS.items():
        assert list(specs[name].buckets) == bounds


def test_no_request_id_or_prompt_labels():
    for spec in load_catalogue().values():
        assert not {"request_id", "prompt", "user_text", "api_key"} & set(spec.labels)


def test_readme_reference_sections_are_current():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table(load_catalogue()) in readme
    assert render(readme) == readme, "README is stale: run `python -m agent.docs` to regenerate it"
