"""The catalogue: well-formed, and the README's metrics table is generated from it."""

import re
from pathlib import Path

import pytest

from agent.catalogue import CatalogueError, load_catalogue, markdown_table
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
        if spec.type == "histogram" and spec.source == "agent":  # re-exported ones keep vLLM's
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


def write(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text("metrics:\n  - " + entry + "\n")
    return path


def test_an_unquoted_comma_in_a_help_text_is_an_unknown_key_naming_the_metric(tmp_path):
    # The bug this guards against: `help: a, b` in a {flow mapping} loads as help "a" plus
    # a key "b"; five help texts were cut short that way.
    entry = "{name: x_total, type: counter, unit: a, labels: [], help: Cut here, not here.}"
    with pytest.raises(CatalogueError, match=r"x_total: unknown key 'not here\.'"):
        load_catalogue(write(tmp_path, entry))


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{name: x, type: summary, unit: a, help: A.}", r"x: type: Input should be 'counter'"),
        ("{name: x, type: counter, unit: a, help: A.}", r"x: .*ends in _total"),
        ("{name: x, type: gauge, unit: a, labels: [a-b], help: A.}", r"x: labels\.0: String"),
        ("{name: x, type: gauge, unit: a, labels: [a, a], help: A.}", r"x: .*duplicated"),
        ("{name: 'x:y', type: gauge, unit: a, help: A.}", r"x:y: name: String"),
        ("{name: x, type: gauge, unit: 3, help: A.}", r"x: unit: Input should be a valid str"),
        ("{name: x, type: histogram, unit: s, buckets: [2, 1], help: A.}", r"x: .*increasing"),
        ("{name: x, type: histogram, unit: s, help: A.}", r"x: .*needs its buckets"),
        ("{name: x, type: gauge, unit: s, buckets: [1], help: A.}", r"x: .*not a histogram"),
        ("{name: x, type: gauge, unit: s}", r"x: help: Field required"),
    ],
)
def test_a_malformed_entry_is_an_error_naming_the_metric_and_key(tmp_path, entry, problem):
    with pytest.raises(CatalogueError, match=problem):
        load_catalogue(write(tmp_path, entry))


def test_a_metric_declared_twice_is_an_error(tmp_path):
    entry = (
        "{name: x, type: gauge, unit: a, help: A.}\n  - {name: x, type: gauge, unit: a, help: B.}"
    )
    with pytest.raises(CatalogueError, match="x declared twice"):
        load_catalogue(write(tmp_path, entry))


def test_a_good_entry_loads_with_its_types(tmp_path):
    entry = (
        "{name: x_seconds, type: histogram, unit: s, labels: [a], buckets: [1, 2.5], help: A, B.}"
    )
    (spec,) = load_catalogue(
        write(tmp_path, entry.replace("help: A, B.", 'help: "A, B."'))
    ).values()
    assert spec.buckets == (1.0, 2.5) and spec.labels == ("a",) and spec.help == "A, B."
    fam = spec.family()
    assert (fam.name, fam.type, fam.documentation) == ("x_seconds", "histogram", "A, B.")
