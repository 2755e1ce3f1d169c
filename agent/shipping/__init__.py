"""Shipping request records from the store (the outbox) to Elasticsearch."""
