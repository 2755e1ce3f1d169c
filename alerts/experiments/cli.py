"""`inferwatch experiments report NAME` and `inferwatch experiments list`: an experiment's
comparison read from the store (read-only, also while the agent runs).

Exit status: 0 printed, 2 bad input (no store, an unknown experiment, arms that cannot be
told apart, a bad config file or duration), with a one-line message.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from alerts.cli_args import parse_duration, parse_time

if TYPE_CHECKING:
    from agent.config import Settings
    from alerts.experiments.stored import Arms

EXIT_OK, EXIT_BAD = 0, 2
Body = Callable[[sqlite3.Connection, argparse.Namespace, "Settings"], str]


class BadInput(Exception):
    """A one-line message for the user; exit status 2."""


def add_experiments_command(sub) -> None:
    """Register `inferwatch experiments report` and `inferwatch experiments list`."""
    p = sub.add_parser(
        "experiments",
        help="compare an experiment's variants (A/B split, canary, shadow)",
        description="Read the experiments the agent routed (config `experiments:`) from its "
        "store and compare the variant with the control. Exit status 0, or 2 on bad input.",
    )
    esub = p.add_subparsers(dest="experiments_cmd", required=True, metavar="ACTION")
    r = esub.add_parser(
        "report",
        help="compare the variant with the control on every metric",
        description="Compare the variant with the control: latency, TTFT, TPOT, tokens in and "
        "out, cost per request and per 1M tokens, error rate, safety-hit rate per filter, "
        "finish-reason mix (and paired comparisons for a shadow), each with its effect, 95% "
        "interval and Holm-adjusted p-value; then the canary's events. The arms come from "
        "--control/--variant, else the config's experiment, else the agent's `started` event "
        "in the store, else the two upstreams seen.",
    )
    r.add_argument("name", metavar="NAME", help="the experiment's name (config experiments.name)")
    _source_args(r)
    when = r.add_mutually_exclusive_group()
    when.add_argument(
        "--since",
        metavar="TIME",
        type=parse_time,
        help="only requests from TIME on: ISO-8601 (UTC unless an offset is given) or epoch s",
    )
    when.add_argument(
        "--last",
        metavar="DURATION",
        type=parse_duration,
        help="only the last DURATION of requests: seconds or 90m, 24h, 7d",
    )
    r.add_argument("--control", metavar="UPSTREAM", help="the control arm's upstream name")
    r.add_argument("--variant", metavar="UPSTREAM", help="the variant arm's upstream name")
    r.add_argument(
        "--json",
        action="store_true",
        help="print JSON: the report (shape in alerts/experiments/report.py) plus `events`",
    )
    r.set_defaults(func=cmd_report)
    ls = esub.add_parser(
        "list",
        help="the experiments in the store, with their arms and counts",
        description="List every experiment the store holds requests of: per upstream, the "
        "requests, shadow copies among them, and the first and last request times.",
    )
    _source_args(ls)
    ls.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    ls.set_defaults(func=cmd_list)


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        metavar="PATH",
        help="the store's database file (default: the config's store.dir/store.filename, "
        "./inferwatch-data/requests.sqlite3 unless configured)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML config file: the store's place and the experiments' control and variant. "
        "Precedence: defaults < FILE < INFERWATCH_* environment.",
    )


def cmd_report(args: argparse.Namespace) -> int:
    """Print one experiment's report (a table, or JSON with --json)."""
    return _run(args, _report)


def cmd_list(args: argparse.Namespace) -> int:
    """Print the experiments in the store."""
    return _run(args, _list)


def _run(args: argparse.Namespace, body: Body) -> int:
    try:
        settings = _settings(args.config)
        path = Path(args.store) if args.store else settings.store.path
        from alerts.experiments.arms import connect_ro

        try:
            conn = connect_ro(path)
        except FileNotFoundError:
            raise BadInput(f"no store at {path} (give --store PATH or --config FILE)") from None
        try:
            sys.stdout.write(body(conn, args, settings))
        finally:
            conn.close()
    except (BadInput, sqlite3.DatabaseError) as err:
        print(f"inferwatch experiments: {err}", file=sys.stderr)
        return EXIT_BAD
    return EXIT_OK


def _settings(config: str | None) -> Settings:
    from agent.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as err:
        raise BadInput(str(err)) from None


def _report(conn: sqlite3.Connection, args: argparse.Namespace, settings: Settings) -> str:
    from alerts.experiments import stored
    from alerts.experiments.arms import load
    from alerts.experiments.report import compare
    from alerts.experiments.table import report_text

    seen = stored.stored_arms(conn, args.name)
    if not seen:
        known = sorted({a.experiment for a in stored.stored_arms(conn)})
        raise BadInput(
            f"no experiment {args.name!r} in the store (known: {', '.join(known) or 'none'})"
        )
    evts = stored.events(conn, args.name)
    arms = _arms(args, settings, evts, seen)
    since = time.time() - args.last if args.last else args.since
    data = load(conn, args.name, arms.control, arms.variant, since, kind=arms.kind)
    doc = compare(data).to_json()
    if args.json:
        return orjson.dumps({**doc, "events": evts}, option=orjson.OPT_INDENT_2).decode() + "\n"
    return report_text(doc, evts)


def _arms(args: argparse.Namespace, settings: Settings, evts: list[dict], seen: list) -> Arms:
    """Flags, else the config's experiment, else the `started` event, else the store."""
    from alerts.experiments import stored

    configured = next((e for e in settings.experiments if e.name == args.name), None)
    if configured is not None:
        named: Arms | None = stored.Arms(
            configured.kind, configured.control, configured.variant, "config"
        )
    else:
        named = stored.from_events(evts)
    if args.control and args.variant:
        kind = named.kind if named else _kind_seen(seen)
        return stored.Arms(kind, args.control, args.variant, "flags")
    if named is not None and not (args.control or args.variant):
        return named
    others = [a.variant for a in seen if a.variant != args.variant]
    control = args.control or (others[0] if args.variant and len(others) == 1 else None)
    try:
        return stored.from_store(seen, control)
    except stored.Unresolved as err:
        raise BadInput(f"experiment {args.name}: {err}") from None


def _kind_seen(seen: list) -> str:
    return "shadow" if any(a.shadow_copies for a in seen) else "split"


def _list(conn: sqlite3.Connection, args: argparse.Namespace, settings: Settings) -> str:
    from dataclasses import asdict

    from alerts.experiments.stored import stored_arms
    from alerts.experiments.table import list_text

    arms = stored_arms(conn)
    if args.json:
        return orjson.dumps([asdict(a) for a in arms], option=orjson.OPT_INDENT_2).decode() + "\n"
    return list_text(arms)
