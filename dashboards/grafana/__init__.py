"""Grafana dashboards as code: boards built with grafana-foundation-sdk from the metrics
catalogue, exported as import-ready JSON (`inferwatch grafana export`)."""
