"""`inferwatch es setup`: install the index template, lifecycle policy and data stream."""

from __future__ import annotations

import argparse
import asyncio
import sys


def add_es_command(sub) -> None:
    """Register `inferwatch es ...` (argparse sub-parsers of the main command)."""
    p = sub.add_parser("es", help="Elasticsearch request-log shipping")
    esub = p.add_subparsers(dest="es_cmd", required=True, metavar="ACTION")
    s = esub.add_parser(
        "setup",
        help="install the index template, lifecycle policy and data stream",
        description="Install the request-log index template (ECS + gen_ai.* mapping), the "
        "lifecycle policy and the data stream. Steps the cluster refuses (missing API or "
        "privilege) are reported and skipped. Exit 1 when the cluster cannot be reached.",
    )
    s.add_argument(
        "--elasticsearch", metavar="URL", help="Elasticsearch URL (config: elasticsearch.url)"
    )
    s.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file. Precedence: defaults < FILE < INFERWATCH_* environment < flags.",
    )
    s.set_defaults(func=cmd_es_setup)


def cmd_es_setup(args: argparse.Namespace) -> int:
    """Run the setup once and print what was installed and what was refused."""
    from agent.cli import settings_from  # the main CLI imports this module

    settings = settings_from(args)
    if not settings.elasticsearch.url:
        print("inferwatch: no Elasticsearch: pass --elasticsearch URL", file=sys.stderr)
        return 2
    return asyncio.run(_setup(settings.elasticsearch))


async def _setup(config) -> int:
    from elasticsearch import TransportError

    from agent.shipping.client import make_client
    from agent.shipping.template import setup

    es = make_client(config)
    try:
        report = await setup(es, config)
    except TransportError as err:
        print(f"inferwatch: cannot reach Elasticsearch: {err}", file=sys.stderr)
        return 1
    finally:
        await es.close()
    for step in report.done:
        print(f"installed: {step}")
    for step, why in report.refused.items():
        print(f"refused:   {step} ({why}); shipping works without it")
    return 0
