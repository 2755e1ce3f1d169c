"""Kibana saved objects (plain dicts, in the form Kibana 8 exports them): the data view of
the request-log data stream and one `search` object per saved search.

Migration versions: `coreMigrationVersion` 8.8.0 is what every Kibana from 8.8 on writes;
8.0.0 is the first 8.x version of both types. Kibana refuses an object whose version is
newer than it knows and migrates an older one forward on import, so this form suits every
Kibana from 8.8 on, where an export from a new Kibana would not import into an older one.
For the same reason `managed` (added in 8.10) is left out: Kibana defaults it to false.
No Kibana can be installed here: the objects are checked against real exports' shape,
not imported.
"""

from __future__ import annotations

import json

from agent.shipping.config import ElasticsearchConfig
from agent.shipping.template import index_pattern
from dashboards.kibana.fields import FORMATS, LABELS, TIME_FIELD
from dashboards.kibana.searches import SavedSearch

DATA_VIEW_ID = "inferwatch-request-logs"
CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSION = {"index-pattern": "8.0.0", "search": "8.0.0"}
# The name Kibana's search source gives the reference to its data view.
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def data_view_title(data_stream: str | None = None) -> str:
    """The index pattern the data view reads: every namespace of the agent's data stream
    (the template's pattern, `logs-inferwatch-*` by default)."""
    return index_pattern(data_stream or ElasticsearchConfig().data_stream)


def data_view() -> dict:
    """The `index-pattern` object: the data stream, `@timestamp` as its time field."""
    attrs = {
        "fieldAttrs": _json({f: {"customLabel": label} for f, label in LABELS.items()}),
        "fieldFormatMap": _json(FORMATS),
        "fields": "[]",  # Kibana reads the fields from the mapping when the view opens
        "name": "inferwatch request logs",
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "timeFieldName": TIME_FIELD,
        "title": data_view_title(),
    }
    return _saved_object("index-pattern", DATA_VIEW_ID, attrs, [])


def saved_search(s: SavedSearch) -> dict:
    """The `search` object of one saved search, its data view named in `references`."""
    source = {
        "query": {"query": s.kql(), "language": "kuery"},
        "filter": [],
        "indexRefName": INDEX_REF,
    }
    attrs = {
        "columns": list(s.columns),
        "description": s.description,
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _json(source)},
        "sort": [list(pair) for pair in s.sort],
        "timeRestore": False,
        "title": s.title,
    }
    ref = {"id": DATA_VIEW_ID, "name": INDEX_REF, "type": "index-pattern"}
    return _saved_object("search", s.id, attrs, [ref])


def _saved_object(kind: str, id_: str, attributes: dict, references: list[dict]) -> dict:
    return {
        "attributes": attributes,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "id": id_,
        "references": references,
        "type": kind,
        "typeMigrationVersion": TYPE_MIGRATION_VERSION[kind],
    }


def _json(value: object) -> str:
    # Kibana stores these attributes as JSON text; compact, as its exports write them.
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
