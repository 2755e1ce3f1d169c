"""The `upstreams:` and `experiments:` checks at start: each mistake is one clear line."""

from __future__ import annotations

import pytest

from agent.config import ConfigError, load_settings

pytestmark = pytest.mark.unit


def _ups(**weights: float) -> list[dict]:
    return [
        {"name": n, "url": f"http://10.0.0.{i}:8000", "weight": w}
        for i, (n, w) in enumerate(weights.items(), 1)
    ]


def _load(upstreams, experiments=(), **more):
    return load_settings(None, {"upstreams": upstreams, "experiments": list(experiments), **more})


def _error(upstreams, experiments=(), **more) -> str:
    with pytest.raises(ConfigError) as err:
        _load(upstreams, experiments, **more)
    return str(err.value)


def test_a_split_between_two_upstreams_loads():
    s = _load(_ups(a=90, b=10), [{"name": "ab", "kind": "split", "control": "a", "variant": "b"}])
    assert [u.name for u in s.upstreams] == ["a", "b"]
    assert s.experiments[0].kind == "split" and s.experiments[0].sticky == "none"


def test_weights_that_do_not_add_up_to_100_are_refused_with_each_weight():
    msg = _error(_ups(a=60, b=30))
    assert "add up to 100, they add up to 90 (a=60, b=30)" in msg


def test_an_experiment_naming_an_unknown_upstream_is_refused_with_the_known_ones():
    msg = _error(_ups(a=50, b=50), [{"name": "x", "kind": "split", "control": "a", "variant": "c"}])
    assert "variant 'c' is not an upstream (known: a, b)" in msg


def test_a_canary_variant_that_already_takes_traffic_is_refused():
    exp = {"name": "c", "kind": "canary", "control": "a", "variant": "b", "steps": [{"weight": 5}]}
    assert "must have weight 0" in _error(_ups(a=50, b=50), [exp])


def test_a_canary_needs_steps_that_do_not_decrease():
    exp = {"name": "c", "kind": "canary", "control": "a", "variant": "b"}
    assert "a canary needs `steps`" in _error(_ups(a=100, b=0), [exp])
    exp["steps"] = [{"weight": 25}, {"weight": 5}]
    assert "must not decrease" in _error(_ups(a=100, b=0), [exp])


def test_a_canary_without_the_store_is_refused():
    exp = {"name": "c", "kind": "canary", "control": "a", "variant": "b", "steps": [{"weight": 5}]}
    msg = _error(_ups(a=100, b=0), [exp], store={"enabled": False})
    assert "gated on the store" in msg


def test_one_experiment_at_a_time():
    exps = [
        {"name": "x", "kind": "split", "control": "a", "variant": "b"},
        {"name": "y", "kind": "split", "control": "b", "variant": "a"},
    ]
    assert "one experiment at a time" in _error(_ups(a=50, b=50), exps)


@pytest.mark.parametrize(
    "bad, expect",
    [
        ({"name": "Not OK", "url": "http://a:1"}, "lowercase letters"),
        ({"name": "a", "url": "ftp://a:1"}, "must start with http"),
        ({"name": "a", "url": "http://a:1", "weight": 101}, "less than or equal to 100"),
    ],
)
def test_bad_upstream_entries_name_the_field(bad, expect):
    assert expect in _error([bad])


def test_duplicate_names_and_upstream_url_beside_upstreams_are_refused():
    dup = [
        {"name": "a", "url": "http://x:1", "weight": 50},
        {"name": "a", "url": "http://y:1", "weight": 50},
    ]
    assert "unique: a" in _error(dup)
    assert "either upstream.url or upstreams" in _error(_ups(a=100), upstream={"url": "http://z:1"})


def test_two_bundled_upstreams_each_take_their_serving_keys_over_the_top_level_ones():
    two = [
        {"name": "a", "url": "bundled", "weight": 50},
        {"name": "b", "url": "bundled", "weight": 50, "serving": {"max_model_len": 512}},
    ]
    s = _load(two, serving={"kv_cache_gib": 2, "max_model_len": 1024})
    a, b = (u.serving_config(s.serving) for u in s.upstreams)
    assert (a.max_model_len, a.kv_cache_gib) == (1024, 2)
    assert (b.max_model_len, b.kv_cache_gib) == (512, 2)
    remote = [{"name": "r", "url": "http://x:1", "serving": {"max_model_len": 512}}]
    assert "`serving` is for url: bundled" in _error(remote)


def test_sticky_takes_tenant_none_or_a_header():
    base = {"name": "x", "kind": "split", "control": "a", "variant": "b"}
    s = _load(_ups(a=50, b=50), [{**base, "sticky": "header:X-Session-Id"}])
    assert s.experiments[0].header == "x-session-id"
    assert "header:<header name>" in _error(_ups(a=50, b=50), [{**base, "sticky": "cookie"}])
