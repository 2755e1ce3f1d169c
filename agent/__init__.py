"""inferwatch sidecar agent: proxy, records, metrics, config and wiring."""

__version__ = "0.1.0"
