"""The ECS document, its one mapping, the per-item bulk outcomes, and the shipping config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.config import load_settings, masked_dict
from agent.record import STATUS_CANCELLED
from agent.shipping.config import ElasticsearchConfig
from agent.shipping.ecs import DocContext, to_document
from agent.shipping.outcome import CONFLICT, REJECT, RETRY, SHIP, SPLIT, classify
from agent.shipping.template import MAPPING, index_pattern, index_template
from tests.store_records import make_record

pytestmark = pytest.mark.unit

_PY_TYPES = {
    "keyword": str,
    "text": str,
    "date": str,
    "long": int,
    "double": (int, float),
    "boolean": bool,
}


def _leaves(doc: dict, prefix: str = ""):
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _mapped_type(path: str) -> str | None:
    node = MAPPING
    for part in path.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            return None
    return node.get("type")


def test_every_field_of_a_full_document_is_mapped_with_a_matching_type():
    record = make_record(
        3,
        prompt_text="hi",
        completion_text="yo",
        parent_span_id="ab" * 8,
        error_type="upstream_timeout",
        error_message="slow",
    )
    doc = to_document(record, DocContext(service_name="svc", host_name="h1"), "final")
    for path, value in _leaves(doc):
        if path.startswith("labels."):
            continue  # dynamic keywords by template
        kind = _mapped_type(path)
        assert kind is not None, f"{path} is not in the mapping"
        values = value if isinstance(value, list) else [value]
        assert all(isinstance(v, _PY_TYPES[kind]) for v in values), (path, value, kind)


def test_document_carries_the_ecs_and_gen_ai_fields():
    r = make_record(1, status=STATUS_CANCELLED, http_status=499)
    doc = to_document(r, DocContext(service_name="svc", host_name="h1"))
    assert doc["event"]["duration"] == 250_000_000 and doc["event"]["outcome"] == "unknown"
    assert doc["trace"]["id"] == r.trace_id and doc["span"]["id"] == r.span_id
    assert doc["user"]["id"] == r.tenant and doc["url"]["path"] == r.path
    assert doc["http"]["response"]["status_code"] == 499
    assert doc["gen_ai"]["usage"] == {"input_tokens": r.prompt_tokens, "output_tokens": 5}
    assert doc["gen_ai"]["server"]["time_to_first_token"] == pytest.approx(0.05)
    assert doc["inferwatch"]["cost"]["amount"] == pytest.approx(0.001)
    assert doc["inferwatch"]["safety"]["filters"] == ["pii.email"]
    assert doc["@timestamp"].endswith("+00:00")
    assert "error" not in doc and "prompt_text" not in doc["inferwatch"]


@pytest.mark.parametrize(
    "ok, item, expected",
    [
        (True, {"status": 201}, (SHIP, "created")),
        (
            False,
            {"status": 409, "error": {"type": "version_conflict_engine_exception"}},
            (CONFLICT, "conflict"),  # ours already, or another document: checked
        ),
        # A proxy's body limit refuses the whole request: split the batch.
        (
            False,
            {"status": 413, "error": "too large", "exception": Exception()},
            (SPLIT, "too_large"),
        ),
        (
            False,
            {"status": 429, "error": {"type": "es_rejected_execution_exception"}},
            (RETRY, "too_many_requests"),
        ),
        (
            False,
            {"status": 503, "error": {"type": "unavailable_shards_exception"}},
            (RETRY, "server_error"),
        ),
        (
            False,
            {"status": 400, "error": {"type": "document_parsing_exception"}},
            (REJECT, "malformed"),
        ),
        # A whole request refused with 400 is not the document's fault: retried.
        (
            False,
            {"status": 400, "error": "bad request", "exception": Exception()},
            (RETRY, "other"),
        ),
        (False, {"status": 403, "error": {"type": "security_exception"}}, (RETRY, "unauthorized")),
    ],
)
def test_bulk_items_are_handled_by_kind(ok, item, expected):
    assert classify(ok, item) == expected


def test_template_targets_the_data_stream_above_the_builtin_logs_template():
    c = ElasticsearchConfig(url="http://es:9200")
    assert index_pattern(c.data_stream) == "logs-inferwatch-*"
    t = index_template(c, with_policy=True)
    assert t["priority"] > 100 and t["data_stream"] == {}
    assert t["template"]["settings"]["index"]["lifecycle"]["name"] == c.ilm_policy
    assert "lifecycle" not in index_template(c, with_policy=False)["template"]["settings"]["index"]


def test_credentials_are_secret_and_auth_is_validated(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("elasticsearch:\n  url: https://es:9200\n  api_key: s3cr3t-key\n")
    settings = load_settings(cfg)
    assert settings.elasticsearch.api_key.get_secret_value() == "s3cr3t-key"
    assert "s3cr3t-key" not in repr(settings) and "s3cr3t-key" not in str(masked_dict(settings))
    with pytest.raises(ValidationError):
        ElasticsearchConfig(url="http://es", api_key="k", username="u", password="p")
    with pytest.raises(ValidationError):
        ElasticsearchConfig(url="http://es", username="u")
    with pytest.raises(ValidationError):
        ElasticsearchConfig(url="es:9200")


def test_a_stored_row_gives_the_same_document_as_the_record():
    from agent.store.rows import StoredRecord, to_data

    ctx = DocContext(service_name="svc", host_name="h1")
    for record in (make_record(1, error_type="500", error_message="boom"), make_record(2)):
        stored = StoredRecord(to_data(record)[-1])
        assert to_document(stored, ctx) == to_document(record, ctx)


def test_an_experiment_records_variant_and_shadow_are_mapped_keywords_in_the_document():
    import dataclasses

    primary = dataclasses.replace(make_record(1), experiment="exp1", variant="control")
    copy = dataclasses.replace(
        make_record(2), experiment="exp1", variant="candidate", shadow_of=primary.request_id
    )
    doc = to_document(copy, DocContext(service_name="svc", host_name="h1"), "final")
    iw = doc["inferwatch"]
    assert (iw["experiment"], iw["variant"], iw["shadow_of"]) == (
        "exp1",
        "candidate",
        primary.request_id,
    )
    assert "shadow_of" not in to_document(primary, DocContext(service_name="svc"))["inferwatch"]
    for field in ("experiment", "variant", "shadow_of"):
        assert _mapped_type(f"inferwatch.{field}") == "keyword"
