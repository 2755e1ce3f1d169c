"""Drift of the request log: a current window of records against a reference."""
