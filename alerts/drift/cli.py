"""`inferwatch drift`: a drift report of the request log, and saved references.

Exit status: 0 no feature drifted, 1 some feature drifted, 2 bad input (a bad time or
duration, an unknown snapshot, a data folder without a store, an Elasticsearch that
cannot be read), with a one-line message.
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from alerts.cli_args import parse_duration, parse_range

EXIT_OK, EXIT_DRIFT, EXIT_BAD = 0, 1, 2

_DESCRIPTION = (
    "Compare a current window of requests with a reference and report, per feature (token "
    "counts, latency, TTFT, TPOT, cost, finish reason, status class, safety filters, model "
    "and tenant mix, text descriptors) and segment (all, each model, each tenant), the test, "
    "its statistic, the threshold and whether it drifted. Defaults: the current window is "
    "the last alerts.drift.window_s seconds, the reference the alerts.drift.reference_s "
    "seconds before it (or the snapshot alerts.drift.reference_snapshot). Exit status 0: no "
    "drift, 1: drift, 2: bad input or a source that cannot be read."
)


def _source_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data folder of the agent whose store is read (config: store.dir; the same "
        "default as `inferwatch up`, ./inferwatch-data)",
    )
    where.add_argument(
        "--elasticsearch",
        metavar="URL",
        help="read a fleet's request logs from this Elasticsearch instead of the store "
        "(config: elasticsearch.url; credentials from the config file or environment)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file (windows, tests and thresholds under alerts.drift). "
        "Precedence: defaults < FILE < INFERWATCH_* environment < flags.",
    )


def _window_args(p: argparse.ArgumentParser, what: str) -> argparse._MutuallyExclusiveGroup:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--window",
        metavar="DURATION",
        type=parse_duration,
        help=f"{what} the last DURATION up to now: seconds or 90m, 24h, 7d "
        "(config: alerts.drift.window_s)",
    )
    return g


def add_drift_command(sub) -> None:
    """Register `inferwatch drift` and `inferwatch drift snapshot` (argparse sub-parsers)."""
    p = sub.add_parser("drift", help="drift report of the request log", description=_DESCRIPTION)
    _source_args(p)
    ref = p.add_mutually_exclusive_group()
    ref.add_argument(
        "--reference",
        metavar="START..END",
        type=parse_range,
        help="reference range; START and END are ISO-8601 times (UTC unless an offset is "
        "given) or epoch seconds, e.g. 2024-05-01T00:00Z..2024-05-02T00:00Z",
    )
    ref.add_argument(
        "--reference-snapshot",
        metavar="NAME",
        help="compare with a reference saved by `inferwatch drift snapshot NAME`",
    )
    cur = _window_args(p, "current window:")
    cur.add_argument(
        "--current", metavar="START..END", type=parse_range, help="current range (as --reference)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_drift)
    snap_sub = p.add_subparsers(dest="drift_cmd", metavar="ACTION")
    _add_snapshot(snap_sub)


def _add_snapshot(sub) -> None:
    s = sub.add_parser(
        "snapshot",
        help="save, list or delete a named reference",
        description="Save the requests of a range (or of the last DURATION) as the reference "
        "NAME, kept in the data folder's alerts.db (the columns drift tests, no text, at most "
        "alerts.drift.snapshot_max_rows rows); list or delete saved ones.",
    )
    s.add_argument("name", metavar="NAME", nargs="?", help="snapshot name (letters, digits, ._-)")
    _source_args(s)
    g = _window_args(s, "save")
    g.add_argument(
        "--reference", metavar="START..END", type=parse_range, help="save this range instead"
    )
    g.add_argument("--list", action="store_true", help="list the saved snapshots")
    g.add_argument("--delete", action="store_true", help="delete the snapshot NAME")
    s.set_defaults(func=cmd_snapshot)


def cmd_drift(args: argparse.Namespace) -> int:
    """Run one comparison and print it; the exit status says whether anything drifted."""
    from alerts.drift import run

    try:
        ctx = run.Context.from_args(args)
        result = run.report(ctx, args, time.time())
    except run.BadInput as err:
        print(f"inferwatch drift: {err}", file=sys.stderr)
        return EXIT_BAD
    if args.json:
        print(
            orjson.dumps(
                result.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
            ).decode()
        )
    else:
        print(result.text())
    return EXIT_DRIFT if result.drifted else EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    """Save, list or delete snapshots."""
    from alerts.drift import run

    try:
        ctx = run.Context.from_args(args)
        for line in run.snapshot(ctx, args, time.time()):
            print(line)
    except run.BadInput as err:
        print(f"inferwatch drift snapshot: {err}", file=sys.stderr)
        return EXIT_BAD
    return EXIT_OK
