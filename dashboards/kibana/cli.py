"""`inferwatch kibana export`: write (or check) the Kibana saved objects and query files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_kibana_command(sub) -> None:
    """Register `inferwatch kibana ...` (argparse sub-parsers of the main command)."""
    p = sub.add_parser("kibana", help="Kibana saved objects for the request logs")
    ksub = p.add_subparsers(dest="kibana_cmd", required=True, metavar="ACTION")
    e = ksub.add_parser(
        "export",
        help="write the saved objects (NDJSON) and the saved searches' query DSL",
        description="Write inferwatch.ndjson (a data view of the request-log data stream and "
        "saved searches: failed requests, safety filter hits, most expensive requests, one "
        "tenant's requests; import it in Kibana under Stack Management > Saved objects) and "
        "queries/<search>.json (each search's filter and sort as Elasticsearch query DSL).",
    )
    e.add_argument(
        "dir",
        nargs="?",
        metavar="DIR",
        type=Path,
        help="output folder (default: the dashboards/kibana folder of this installation, "
        "where the committed copies live)",
    )
    e.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each file in DIR that differs from what the code "
        "generates (changed, missing, or no longer generated), 0 when all agree",
    )
    e.set_defaults(func=cmd_kibana_export)


def cmd_kibana_export(args: argparse.Namespace) -> int:
    """Write the files, or with `--check` compare them."""
    from dashboards.kibana.export import HERE, check, write

    directory = args.dir or HERE
    if args.check:
        differ = check(directory)
        for name in differ:
            print(f"differs from the generator: {directory / name}", file=sys.stderr)
        if differ:
            print("run `inferwatch kibana export` to regenerate", file=sys.stderr)
        return 1 if differ else 0
    try:
        written = write(directory)
    except OSError as err:  # a read-only install (the container) or a bad folder
        where = err.filename or directory
        print(f"kibana export: cannot write {where}: {err.strerror or err}", file=sys.stderr)
        return 1
    for name in written:
        print(f"wrote {directory / name}")
    return 0
