"""The router: weights hold, sticky keys stay put, a canary only ever moves users one way,
and a shadow samples its fraction of the control's requests."""

from __future__ import annotations

import random

import pytest
from scipy import stats

from agent.config import load_settings
from agent.metrics import new_registry
from agent.routing.router import Router
from agent.routing.wiring import build_upstreams
from agent.upstream import Upstream

pytestmark = pytest.mark.unit


def _router(weights: dict[str, float], experiment: dict | None = None, seed: int = 7):
    ups = [
        {"name": n, "url": f"http://10.0.0.{i}:8000", "weight": w}
        for i, (n, w) in enumerate(weights.items(), 1)
    ]
    s = load_settings(None, {"upstreams": ups, "experiments": [experiment] if experiment else []})
    ups = {u.name: Upstream(s.upstream, u.url) for u in s.upstreams}
    exp = s.experiments[0] if s.experiments else None
    return Router(ups, s.upstreams, exp, random.Random(seed).random)  # seeded: repeatable


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    """Within the two-sided 99.9% binomial bounds (a wrong split fails, luck does not)."""
    low, high = stats.binom.interval(0.999, n, p)
    return low <= hits <= high


def test_a_weighted_split_holds_within_binomial_bounds():
    r = _router({"a": 80, "b": 15, "c": 5})
    n = 20_000
    got = [r.pick(None).name for _ in range(n)]
    for name, p in (("a", 0.80), ("b", 0.15), ("c", 0.05)):
        assert _binomial_ok(got.count(name), n, p), (name, got.count(name))


def test_a_sticky_key_always_lands_on_the_same_upstream_and_keys_split_by_weight():
    exp = {
        "name": "ab",
        "kind": "split",
        "control": "a",
        "variant": "b",
        "sticky": "header:x-session",
    }
    r = _router({"a": 70, "b": 30}, exp)
    first = {f"user-{i}": r.pick(f"user-{i}").name for i in range(5000)}
    again = {k: r.pick(k).name for k in first}
    assert again == first
    assert _binomial_ok(list(first.values()).count("b"), 5000, 0.30)
    assert r.pick("user-1").experiment == "ab"


def test_sticky_keys_come_from_the_header_or_a_named_tenant():
    exp = {
        "name": "ab",
        "kind": "split",
        "control": "a",
        "variant": "b",
        "sticky": "header:x-session",
    }
    r = _router({"a": 50, "b": 50}, exp)
    assert r.sticky_key({"x-session": "s1"}, "default", "default") == "s1"
    assert r.sticky_key({}, "acme", "default") is None  # no header: placed at random
    exp["sticky"] = "tenant"
    r = _router({"a": 50, "b": 50}, exp)
    assert r.sticky_key({}, "acme", "default") == "acme"
    assert r.sticky_key({}, "default", "default") is None  # unidentified: not one "user"


def test_a_growing_canary_only_moves_users_from_control_to_variant_and_rollback_moves_all_back():
    exp = {
        "name": "c",
        "kind": "canary",
        "control": "a",
        "variant": "b",
        "steps": [{"weight": 5}],
        "sticky": "header:x",
    }
    r = _router({"a": 100, "b": 0}, exp)
    keys = [f"u{i}" for i in range(4000)]
    assert {r.pick(k).name for k in keys} == {"a"}  # share 0 before the first step
    seen = set()
    for share in (1, 5, 25, 50, 100):
        r.set_variant_share(share)
        on_b = {k for k in keys if r.pick(k).name == "b"}
        assert seen <= on_b  # nobody goes back to the control as the canary grows
        assert _binomial_ok(len(on_b), len(keys), share / 100)
        seen = on_b
    assert r.shares() == {"a": 0.0, "b": 100.0}
    r.set_variant_share(0)
    assert {r.pick(k).name for k in keys} == {"a"}


def test_a_canary_leaves_a_third_upstream_its_own_traffic():
    exp = {"name": "c", "kind": "canary", "control": "a", "variant": "b", "steps": [{"weight": 50}]}
    r = _router({"a": 80, "b": 0, "other": 20}, exp)
    r.set_variant_share(50)
    assert r.shares() == {"a": 40.0, "b": 40.0}
    got = [r.pick(None).name for _ in range(10_000)]
    assert _binomial_ok(got.count("other"), 10_000, 0.20)
    picks = [r.pick(None) for _ in range(500)]
    assert {p.experiment for p in picks if p.name == "other"} == {None}
    assert {p.experiment for p in picks if p.name != "other"} == {"c"}


def test_a_shadow_copies_its_fraction_of_the_control_only():
    exp = {
        "name": "s",
        "kind": "shadow",
        "control": "a",
        "variant": "b",
        "shadow": {"fraction": 0.25},
    }
    r = _router({"a": 100, "b": 0}, exp)
    picks = [r.pick(None) for _ in range(8000)]
    assert {p.name for p in picks} == {"a"}  # the client is always served by the control
    shadowed = [p for p in picks if p.shadow is not None]
    assert _binomial_ok(len(shadowed), 8000, 0.25)
    assert {p.shadow_name for p in shadowed} == {"b"}


def test_one_unnamed_upstream_routes_everything_to_it_with_no_experiment():
    s = load_settings(None, {"upstream": {"url": "http://a:1"}})
    built = build_upstreams(s, "http://a:1", new_registry()[1])
    choice = built.router.pick(None)
    assert choice.upstream is built.primary and choice.name is None and choice.experiment is None


def test_only_the_primary_is_metered_unless_an_upstream_says_so():
    ups = [
        {"name": "local", "url": "bundled", "weight": 50},
        {"name": "remote", "url": "http://10.0.0.9:8000", "weight": 25},
        {"name": "gpu2", "url": "http://127.0.0.1:8002", "weight": 25, "metered": True},
    ]
    s = load_settings(None, {"upstreams": ups})
    router = build_upstreams(s, "http://127.0.0.1:8001", new_registry()[1]).router
    assert [router.metered(n) for n in ("local", "remote", "gpu2")] == [True, False, True]
