"""Receivers' URLs: http(s) only, no user:password, and alerts.allowed_hosts at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.config import AlertsConfig
from alerts.webhooks.config import DeliveryConfig, WebhookConfig
from alerts.webhooks.hosts import ReceiverError, check_receivers, host_allowed
from alerts.webhooks.sender import Sender, backoff_s

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example/x", "http"),
        ("file:///etc/passwd", "http"),
        ("http:///x", "http"),
        ("https://user:pw@hooks.example/x", "user:password"),
        ("https://token@hooks.example/x", "user:password"),
    ],
)
def test_bad_webhook_urls_are_refused_with_the_reason(url, why):
    with pytest.raises(ValidationError, match=why):
        WebhookConfig(name="ops", url=url)


def test_a_host_outside_allowed_hosts_is_refused_at_load_and_at_start(tmp_path):
    hooks = [{"name": "ops", "url": "https://evil.example:8443/hook"}]
    # Loading the config refuses it (so `inferwatch up` says so in one line, status 2)...
    with pytest.raises(ValidationError, match=r"receiver 'ops': host 'evil.example' is not in"):
        AlertsConfig(webhooks=hooks, allowed_hosts=["hooks.example"])
    # ...and so do the check and the sender on a config built without validation.
    config = AlertsConfig.model_construct(
        webhooks=[WebhookConfig(**hooks[0])], allowed_hosts=["hooks.example"]
    )
    with pytest.raises(ReceiverError, match=r"receiver 'ops': host 'evil.example' is not in"):
        check_receivers(config)
    with pytest.raises(ReceiverError, match="evil.example"):
        Sender(config, tmp_path / "alerts.db")


def test_a_route_to_an_undefined_receiver_is_refused_at_load():
    with pytest.raises(ValidationError, match=r"names \['oncall'\], which no alerts.webhooks"):
        AlertsConfig(route={"receivers": ["oncall"]})
    hooks = [{"name": "oncall", "url": "https://hooks.example/x"}]
    assert AlertsConfig(route={"receivers": ["oncall"]}, webhooks=hooks).route.receivers


@pytest.mark.parametrize(
    ("url", "allowed", "ok"),
    [
        ("https://Hooks.Example/x", ["hooks.example"], True),
        ("https://hooks.example/x", ["hooks.example:443"], True),
        ("http://hooks.example:8080/x", ["hooks.example:443"], False),
        ("http://[::1]:8080/x", ["[::1]:8080"], True),
        ("http://hooks.example.evil/x", ["hooks.example"], False),
        ("http://anything/x", [], True),
    ],
)
def test_host_allowed(url, allowed, ok):
    assert host_allowed(url, allowed) is ok


def test_receiver_names_are_unique():
    hooks = [{"name": "ops", "url": "http://a/"}, {"name": "ops", "url": "http://b/"}]
    with pytest.raises(ValidationError, match="'ops' used twice"):
        AlertsConfig(webhooks=hooks)
    unchecked = AlertsConfig.model_construct(webhooks=[WebhookConfig(**h) for h in hooks])
    with pytest.raises(ReceiverError, match="'ops' used twice"):
        check_receivers(unchecked)


class _Rng:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_grows_exponentially_to_its_max_less_the_jitter():
    config = DeliveryConfig(
        backoff_base_s=1, backoff_factor=2, backoff_max_s=10, backoff_jitter=0.5
    )
    assert [backoff_s(config, n, _Rng(0.0)) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert backoff_s(config, 3, _Rng(1.0)) == 2.0  # at most half drawn off


def test_sender_families_are_the_catalogues_with_every_result_at_zero(tmp_path):
    from prometheus_client import CollectorRegistry, generate_latest

    from agent.catalogue import load_catalogue

    sender = Sender(AlertsConfig(webhooks=[{"name": "ops", "url": "http://a/"}]), tmp_path / "x")
    specs = load_catalogue()
    counter, gauge = sender.families()
    for family in (counter, gauge):
        spec = specs[family.name + ("_total" if family.type == "counter" else "")]
        assert (family.type, family.documentation) == (spec.type, spec.help)
        assert all(set(s.labels) == set(spec.labels) for s in family.samples)
    results = {s.labels["result"] for s in counter.samples if s.name.endswith("_total")}
    assert results == {"sent", "failed", "timeout", "refused", "redirect", "dropped"}

    class _Families:
        def collect(self):
            return sender.families()

    registry = CollectorRegistry()
    registry.register(_Families())
    text = generate_latest(registry).decode()
    assert 'inferwatch_alert_notifications_total{receiver="ops",result="dropped"} 0.0' in text
    assert 'inferwatch_alert_outbox_pending{receiver="ops"} 0.0' in text
