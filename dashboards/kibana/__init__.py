"""Kibana saved objects for the request logs: a data view and saved searches, generated as
NDJSON for import, with each search's query also given as Elasticsearch query DSL."""
