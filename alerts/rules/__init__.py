"""Prometheus rule files shipped with inferwatch (recording.yml, alerts.yml), their
promtool unit tests (tests/), an example Alertmanager configuration, and the modules that
load them, check their metric names and render them as a Kubernetes PrometheusRule."""
