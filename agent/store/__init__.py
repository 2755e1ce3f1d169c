"""The embedded request-log store: SQLite in WAL mode, written in batches off the request path.

It is also the outbox of the Elasticsearch shipper (`agent.shipping`): every row carries a
ship state, and a row leaves the outbox only when Elasticsearch has acknowledged it.
"""
