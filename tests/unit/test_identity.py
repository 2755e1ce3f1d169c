"""Tenants, label caps and ids: the small pieces that keep labels bounded and keys secret."""

import time
import uuid

import pytest
from pydantic import SecretStr

from agent.config import TenantsConfig
from agent.edge import EdgeError, client_request_id
from agent.ids import new_request_id, trace_ids
from agent.labels import OVERFLOW, LabelCap
from agent.tenancy import TenantResolver

pytestmark = pytest.mark.unit


def test_with_keys_the_key_decides_and_the_header_is_not_trusted():
    r = TenantResolver(TenantsConfig(api_keys={"acme": SecretStr("sk-a")}))
    assert r.resolve({"Authorization": "Bearer sk-a", "x-tenant-id": "spoof"}) == "acme"
    # A wrong key that names a tenant in the header is not billed to that tenant.
    assert r.resolve({"Authorization": "Bearer wrong", "x-tenant-id": "acme"}) == "default"
    assert r.resolve({"x-tenant-id": "acme"}) == "default"
    assert r.resolve({}) == "default"


def test_require_key_refuses_unknown_keys_with_401():
    r = TenantResolver(TenantsConfig(api_keys={"acme": SecretStr("sk-a")}, require_key=True))
    assert r.resolve({"Authorization": "bearer sk-a"}) == "acme"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sk-a"}):
        with pytest.raises(EdgeError) as err:
            r.resolve(headers)
        assert err.value.status == 401
    with pytest.raises(ValueError, match="require_key needs api_keys"):
        TenantsConfig(require_key=True)


def test_tenant_header_must_be_printable_utf8_and_short():
    r = TenantResolver(TenantsConfig())
    assert r.resolve({"x-tenant-id": " blue "}) == "blue"
    for bad in ("t\udcff", "a\x00b", "x" * 65):
        with pytest.raises(EdgeError) as err:
            r.resolve({"x-tenant-id": bad})
        assert err.value.status == 400 and "x-tenant-id" in err.value.message


def test_known_tenants_keep_their_label_whatever_came_first():
    cap = LabelCap(2, known=["acme"])
    assert [cap(v) for v in ["junk1", "junk2", "junk3", "acme"]] == [
        "junk1",
        "junk2",
        OVERFLOW,
        "acme",
    ]


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


def test_client_request_id_is_kept_only_when_sane():
    assert client_request_id("abc-123") == "abc-123"
    assert client_request_id(None) is None and client_request_id("  ") is None
    for bad in ("bad id with spaces", "x" * 129, "t\udcff", "a\nb"):
        with pytest.raises(EdgeError) as err:
            client_request_id(bad)
        assert err.value.status == 400 and "x-request-id" in err.value.message
    assert new_request_id() != new_request_id()


def test_generated_request_ids_are_uuid7_in_time_order():
    first = new_request_id()
    time.sleep(0.002)  # the next millisecond at least
    later = [new_request_id() for _ in range(200)]
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
