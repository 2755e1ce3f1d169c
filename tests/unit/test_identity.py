"""Tenants, label caps and ids: the small pieces that keep labels bounded and keys secret."""

import time
import uuid

import pytest
from pydantic import SecretStr

from agent.config import TenantsConfig
from agent.ids import request_id_from, trace_ids
from agent.labels import OVERFLOW, LabelCap
from agent.tenancy import TenantResolver

pytestmark = pytest.mark.unit


def test_tenant_from_key_then_header_then_default():
    r = TenantResolver(TenantsConfig(api_keys={"acme": SecretStr("sk-a")}))
    assert r.resolve({"Authorization": "Bearer sk-a", "x-tenant-id": "spoof"}) == "acme"
    assert r.resolve({"Authorization": "Bearer unknown", "x-tenant-id": "t2"}) == "t2"
    assert r.resolve({}) == "default"


def test_tenant_header_name_is_configurable():
    r = TenantResolver(TenantsConfig(header="x-team"))
    assert r.resolve({"x-team": "blue", "x-tenant-id": "red"}) == "blue"


def test_label_cap_overflows_to_other():
    cap = LabelCap(2)
    assert [cap(v) for v in ["a", "b", "c", "a", "d", "b"]] == [
        "a",
        "b",
        OVERFLOW,
        "a",
        OVERFLOW,
        "b",
    ]


def test_request_id_honoured_only_when_sane():
    assert request_id_from("abc-123") == "abc-123"
    generated = request_id_from("bad id with spaces\n")
    assert len(generated) == 32 and " " not in generated
    assert request_id_from(None) != request_id_from(None)


def test_generated_request_ids_are_uuid7_in_time_order():
    first = request_id_from(None)
    time.sleep(0.002)  # the next millisecond at least
    later = [request_id_from(None) for _ in range(200)]
    for rid in [first, *later]:
        u = uuid.UUID(rid)
        assert len(rid) == 32 and rid == rid.lower()
        assert u.version == 7 and u.variant == uuid.RFC_4122
        assert abs(int(rid[:12], 16) - time.time() * 1000) < 60_000  # Unix milliseconds
    assert all(first < rid for rid in later)  # the store's index grows at its right edge
    assert len(set(later)) == len(later)


def test_traceparent_parsed_or_new_trace():
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert trace_ids(tp) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    tid, parent = trace_ids("garbage")
    assert len(tid) == 32 and parent is None
