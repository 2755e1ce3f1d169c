"""The one mapping of the request-log documents, its index template, lifecycle policy and
data stream, and `setup()` which installs them.

Types are chosen for the questions asked of the logs: identifiers and names are `keyword`
(exact filters and terms aggregations), free text is `text` (`match_only_text`-like use:
searched, never aggregated), measures are numeric (`long` for counts and nanoseconds,
`double` for seconds and money, `scaled_float` would lose sub-cent costs). Unknown fields
are kept in `_source` but not indexed (`dynamic: false`), so a new record field cannot
explode the mapping; `labels.*` are indexed as keywords.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from elasticsearch import ApiError, AsyncElasticsearch

from agent.shipping.config import ElasticsearchConfig

log = logging.getLogger("inferwatch.shipping.setup")

K = {"type": "keyword", "ignore_above": 1024}
TEXT = {"type": "text"}
LONG = {"type": "long"}
DOUBLE = {"type": "double"}
BOOL = {"type": "boolean"}


def _obj(**props: dict) -> dict:
    return {"properties": props}


MAPPING: dict = {
    "dynamic": False,
    "dynamic_templates": [
        {
            "labels": {
                "path_match": "labels.*",
                "mapping": {"type": "keyword", "ignore_above": 1024},
            }
        },
        # Text descriptors: numbers whose names the drift module chooses.
        {"text_stats": {"path_match": "inferwatch.text_stats.*", "mapping": DOUBLE}},
    ],
    "properties": {
        "@timestamp": {"type": "date"},
        "event": _obj(kind=K, category=K, type=K, dataset=K, duration=LONG, outcome=K),
        "trace": _obj(id=K),
        "span": _obj(id=K),
        "service": _obj(name=K, version=K),
        "host": _obj(name=K),
        "http": _obj(request=_obj(id=K), response=_obj(status_code=LONG)),
        "url": _obj(path=K),
        "user": _obj(id=K),
        "error": _obj(type=K, message=TEXT),
        "labels": {"type": "object", "dynamic": True},
        "gen_ai": _obj(
            operation=_obj(name=K),
            provider=_obj(name=K),
            request=_obj(model=K),
            response=_obj(model=K, finish_reasons=K),
            server=_obj(
                request=_obj(duration=DOUBLE),
                time_to_first_token=DOUBLE,
                time_per_output_token=DOUBLE,
            ),
            usage=_obj(input_tokens=LONG, output_tokens=LONG),
        ),
        "inferwatch": _obj(
            status=K,
            stream=BOOL,
            agent_overhead_ns=LONG,
            parent_span_id=K,
            client_request_id=K,
            cost=_obj(currency=K, amount=DOUBLE, device_seconds=DOUBLE, joules=DOUBLE, status=K),
            experiment=K,
            variant=K,
            shadow_of=K,
            safety=_obj(hits=LONG, blocked=BOOL, filters=K, actions=K, directions=K),
            prompt_text=TEXT,
            completion_text=TEXT,
            text_stats={"type": "object", "dynamic": True},
        ),
    },
}

# Above the built-in `logs` template (priority 100), so ours wins for its pattern.
PRIORITY = 200


def index_pattern(data_stream: str) -> str:
    """`logs-inferwatch-default` -> `logs-inferwatch-*` (every namespace of the dataset)."""
    parts = data_stream.split("-")
    return "-".join(parts[:2]) + "-*" if len(parts) >= 3 else data_stream + "*"


def lifecycle_policy(c: ElasticsearchConfig) -> dict:
    """Roll over daily or at 50 GB per primary shard; delete after `retention_days`."""
    rollover = {"max_age": "1d", "max_primary_shard_size": "50gb"}
    return {
        "phases": {
            "hot": {"actions": {"rollover": rollover}},
            "delete": {"min_age": f"{c.retention_days}d", "actions": {"delete": {}}},
        }
    }


def index_template(c: ElasticsearchConfig, with_policy: bool) -> dict:
    """Keyword arguments of `indices.put_index_template`."""
    settings: dict = {"index": {"codec": "best_compression"}}
    if with_policy:
        settings["index"]["lifecycle"] = {"name": c.ilm_policy}
    return {
        "name": c.template_name,
        "index_patterns": [index_pattern(c.data_stream)],
        "data_stream": {},
        "priority": PRIORITY,
        "template": {"settings": settings, "mappings": MAPPING},
        "meta": {"managed_by": "inferwatch"},
    }


@dataclass
class SetupReport:
    """What `setup` installed, and what the cluster refused (with its reason)."""

    done: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


async def setup(es: AsyncElasticsearch, c: ElasticsearchConfig) -> SetupReport:
    """Install the policy, template and data stream. A step the cluster refuses (no such
    API, no privilege) is logged as a warning and skipped: shipping goes on without it.
    Connection failures propagate (the caller retries)."""
    report = SetupReport()
    policy_ok = await _step(
        report,
        "lifecycle_policy",
        es.ilm.put_lifecycle(name=c.ilm_policy, policy=lifecycle_policy(c)),
    )
    await _step(
        report,
        "index_template",
        es.indices.put_index_template(**index_template(c, with_policy=policy_ok)),
    )
    await _step(report, "data_stream", es.indices.create_data_stream(name=c.data_stream))
    return report


async def _step(report: SetupReport, name: str, call) -> bool:
    try:
        await call
    except ApiError as err:
        if "already_exists" in str(err):
            report.done.append(name)
            return True
        report.refused[name] = f"{err.status_code}: {err.message}"
        log.warning(
            "Elasticsearch refused a setup step; shipping goes on without it",
            extra={"step": name, "status": err.status_code, "reason": str(err.message)[:300]},
        )
        return False
    report.done.append(name)
    return True
