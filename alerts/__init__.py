"""Drift and anomaly detection, the alert engine and webhook sinks."""
