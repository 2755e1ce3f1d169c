"""The Kibana saved objects and query DSL files: the committed copies are the generator's
output, every line imports as a saved object, every field named is one the agent's index
template maps, references resolve, and the KQL says what the DSL does."""

from __future__ import annotations

import json

import pytest

from agent.cli import main
from agent.shipping.config import ElasticsearchConfig
from agent.shipping.template import MAPPING, index_template
from dashboards.kibana import export
from dashboards.kibana.fields import FORMATS, LABELS, mapped_fields
from dashboards.kibana.objects import INDEX_REF
from dashboards.kibana.query import Above, Exists, Term, kql
from dashboards.kibana.searches import TENANT_PLACEHOLDER, SavedSearch

pytestmark = pytest.mark.unit

FILES = export.render_all()
OBJECTS = [json.loads(line) for line in FILES[export.NDJSON].splitlines()]
SEARCHES = [o for o in OBJECTS if o["type"] == "search"]
QUERIES = {n: json.loads(t) for n, t in FILES.items() if n.startswith("queries/")}
# The mapping the agent installs (through its index template), not the module constant.
INSTALLED = mapped_fields(index_template(ElasticsearchConfig(), True)["template"]["mappings"])


def test_committed_files_are_the_generators_output():
    assert export.check() == []
    assert sorted(FILES) == [
        "inferwatch.ndjson",
        "queries/errors.json",
        "queries/most-expensive.json",
        "queries/safety-hits.json",
        "queries/tenant.json",
    ]


def test_check_names_changed_missing_and_stale_files(tmp_path):
    export.write(tmp_path)
    assert export.check(tmp_path) == []
    (tmp_path / "queries" / "errors.json").write_text("{}\n")
    (tmp_path / "inferwatch.ndjson").unlink()
    (tmp_path / "queries" / "old.json").write_text("{}\n")
    assert export.check(tmp_path) == [
        "inferwatch.ndjson",
        "queries/errors.json",
        "queries/old.json",
    ]
    export.write(tmp_path)  # rewrites, and removes the query file no search makes
    assert export.check(tmp_path) == [] and not (tmp_path / "queries" / "old.json").exists()


def test_every_line_is_a_saved_object_with_a_stable_id():
    assert [(o["type"], o["id"]) for o in OBJECTS] == [
        ("index-pattern", "inferwatch-request-logs"),
        ("search", "inferwatch-errors"),
        ("search", "inferwatch-safety-hits"),
        ("search", "inferwatch-most-expensive"),
        ("search", "inferwatch-tenant"),
    ]
    for o in OBJECTS:
        assert o["coreMigrationVersion"] == "8.8.0" and o["typeMigrationVersion"] == "8.0.0"
        assert o["attributes"]["title"] and "version" not in o


def test_data_view_reads_the_template_pattern_by_its_time_field():
    view = OBJECTS[0]["attributes"]
    assert view["title"] == index_template(ElasticsearchConfig(), True)["index_patterns"][0]
    assert view["title"] == "logs-inferwatch-*"
    assert MAPPING["properties"][view["timeFieldName"]]["type"] == "date"
    labelled = json.loads(view["fieldAttrs"]) | json.loads(view["fieldFormatMap"])
    assert set(labelled) == set(LABELS) | set(FORMATS) and set(labelled) <= INSTALLED


def test_references_resolve_to_the_data_view_in_the_file():
    ids = {(o["type"], o["id"]) for o in OBJECTS}
    for s in SEARCHES:
        source = json.loads(s["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        (ref,) = s["references"]
        assert ref["name"] == source["indexRefName"] == INDEX_REF
        assert (ref["type"], ref["id"]) in ids and ref["type"] == "index-pattern"


def _dsl_fields(node) -> set[str]:
    """Field names in a query DSL tree: keys under term/range, exists' field."""
    out: set[str] = set()
    if isinstance(node, list):
        for item in node:
            out |= _dsl_fields(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("term", "range"):
                out |= set(value)
            elif key == "exists":
                out.add(value["field"])
            else:
                out |= _dsl_fields(value)
    return out


def test_every_field_named_is_mapped_by_the_installed_template():
    named: set[str] = set()
    for s in SEARCHES:
        named |= set(s["attributes"]["columns"]) | {f for f, _ in s["attributes"]["sort"]}
    for body in QUERIES.values():
        named |= _dsl_fields(body["query"]) | {f for entry in body["sort"] for f in entry}
    assert len(named) > 20
    assert named - INSTALLED == set()


def _kql(name: str) -> str:
    search = next(s for s in SEARCHES if s["id"] == f"inferwatch-{name}")
    source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"]["language"] == "kuery"
    return source["query"]["query"]


@pytest.mark.parametrize(
    ("name", "kql_text", "clause", "sort"),
    [
        ("errors", 'event.outcome : "failure"', {"term": {"event.outcome": "failure"}}, None),
        (
            "safety-hits",
            "inferwatch.safety.hits > 0",
            {"range": {"inferwatch.safety.hits": {"gt": 0}}},
            None,
        ),
        (
            "most-expensive",
            "inferwatch.cost.amount : *",
            {"exists": {"field": "inferwatch.cost.amount"}},
            "inferwatch.cost.amount",
        ),
        (
            "tenant",
            f'user.id : "{TENANT_PLACEHOLDER}"',
            {"term": {"user.id": TENANT_PLACEHOLDER}},
            None,
        ),
    ],
)
def test_kql_and_dsl_say_the_same(name, kql_text, clause, sort):
    body = QUERIES[f"queries/{name}.json"]
    assert _kql(name) == kql_text
    assert body["query"] == {"bool": {"filter": [clause]}}
    search = next(s for s in SEARCHES if s["id"] == f"inferwatch-{name}")
    kibana_sort = [
        [f, o] for entry in body["sort"] for f, spec in entry.items() for o in [spec["order"]]
    ]
    assert search["attributes"]["sort"] == kibana_sort
    assert kibana_sort[0] == [sort or "@timestamp", "desc"]


def test_kql_quotes_values_and_joins_with_and():
    clauses = [Term("user.id", 'a "b" \\ c'), Above("x", 1.5), Exists("y"), Term("z", True)]
    assert kql(clauses) == 'user.id : "a \\"b\\" \\\\ c" and x > 1.5 and y : * and z : true'


def test_tenant_search_says_its_tenant_is_a_placeholder():
    (tenant,) = [s for s in SEARCHES if s["id"] == "inferwatch-tenant"]
    assert TENANT_PLACEHOLDER in tenant["attributes"]["description"]
    assert "placeholder" in tenant["attributes"]["description"]


def test_a_search_naming_an_unmapped_field_is_refused():
    with pytest.raises(ValueError, match="not in the request-log mapping: gen_ai.modle"):
        SavedSearch("x", "x", "x", (Exists("user.id"),), ("gen_ai.modle",))
    with pytest.raises(ValueError, match="asc or desc"):
        SavedSearch("x", "x", "x", (), ("user.id",), (("user.id", "down"),))


def test_cli_writes_then_checks_a_folder(tmp_path, capsys):
    assert main(["kibana", "export", str(tmp_path)]) == 0
    assert main(["kibana", "export", str(tmp_path), "--check"]) == 0
    (tmp_path / "queries" / "tenant.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["kibana", "export", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "queries" / "tenant.json") in err and "ndjson" not in err


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["kibana", "export", "--help"])
    out = capsys.readouterr().out
    assert "--check" in out and "DIR" in out and "default" in out and "exit 1" in out


def test_cli_to_a_folder_that_cannot_be_written_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["kibana", "export", str(blocker / "objects")]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("kibana export: cannot write") and str(blocker) in line
