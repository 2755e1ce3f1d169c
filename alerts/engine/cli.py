"""`inferwatch alerts silence add|list|expire`: silences in the agent's alerts database.

They write `<data dir>/alerts.db` beside a running agent (WAL: the engine reads the
silences at each group flush, so a new or expired silence counts from the next flush).
Exit 2 with a message on a bad matcher, a bad duration or an unknown id.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from alerts import db
from alerts.cli_args import parse_duration
from alerts.engine.silences import Silence, SilenceError, Silences


def add_silence_commands(alerts_subparsers) -> None:
    """Register `silence add|list|expire` under the `inferwatch alerts` sub-parsers."""
    p = alerts_subparsers.add_parser("silence", help="mute alerts for a while")
    sub = p.add_subparsers(dest="silence_cmd", required=True, metavar="ACTION")
    add = sub.add_parser(
        "add",
        help="silence the alerts matching every MATCHER",
        description='Matchers in Alertmanager\'s syntax: name="value", name!="value", '
        'name=~"regex", name!~"regex" (regexes match the whole value).',
    )
    add.add_argument("matchers", nargs="+", metavar="MATCHER")
    add.add_argument("--duration", default="1h", help="how long, e.g. 90m, 2h, 1d (default 1h)")
    add.add_argument("--comment", default="", help="why")
    add.add_argument("--author", default=_user(), help="who (default: the login name)")
    add.set_defaults(func=cmd_add)
    ls = sub.add_parser("list", help="list pending and active silences")
    ls.add_argument("--expired", action="store_true", help="list expired silences too")
    ls.set_defaults(func=cmd_list)
    ex = sub.add_parser("expire", help="end a silence now")
    ex.add_argument("id", metavar="ID")
    ex.set_defaults(func=cmd_expire)
    for q in (add, ls, ex):
        q.add_argument(
            "--data-dir", metavar="DIR", help="the agent's data folder (default: config store.dir)"
        )
        q.add_argument("--config", metavar="FILE", help="YAML config file naming store.dir")


def cmd_add(args: argparse.Namespace) -> int:
    """Add a silence and print its id."""
    try:
        seconds = parse_duration(args.duration)
        now = time.time()
        s = _silences(args).add(args.matchers, now, now + seconds, args.author, args.comment)
    except (SilenceError, argparse.ArgumentTypeError) as err:
        return _fail(err)
    print(f"silence {s.id} added: {', '.join(s.matchers)} until {_when(s.ends_at)}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print the silences, one per line."""
    found = _existing_silences(args)
    now = time.time()
    rows = found.list(now, expired=args.expired) if found else []
    if not rows:
        print("no silences" if args.expired else "no pending or active silences")
    for s in rows:
        print(_line(s, now))
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    """End a silence now."""
    found = _existing_silences(args)
    try:
        if found is None:
            raise SilenceError(f"no silence with id {args.id!r}")
        s = found.expire(args.id, time.time())
    except SilenceError as err:
        return _fail(err)
    print(f"silence {s.id} expired at {_when(s.ends_at)}")
    return 0


def _silences(args: argparse.Namespace) -> Silences:
    return Silences(db.connect(_db_path(args)))


def _existing_silences(args: argparse.Namespace) -> Silences | None:
    """The silences, or None where the database does not exist (nothing was ever added)."""
    path = _db_path(args)
    return Silences(db.connect(path)) if path.exists() else None


def _db_path(args: argparse.Namespace) -> Path:
    return Path(_data_dir(args)) / db.FILENAME


def _data_dir(args: argparse.Namespace) -> str:
    if args.data_dir:
        return args.data_dir
    from agent.config import ConfigError, load_settings  # loads pydantic-settings lazily

    try:
        return str(load_settings(args.config).store.dir)
    except ConfigError as err:
        raise SystemExit(_fail(err)) from None


def _line(s: Silence, now: float) -> str:
    by = f" by {s.created_by}" if s.created_by else ""
    why = f": {s.comment}" if s.comment else ""
    return (
        f"{s.id}  {s.state(now):<7}  {_when(s.starts_at)} .. {_when(s.ends_at)}  "
        f"{', '.join(s.matchers)}{by}{why}"
    )


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _fail(err: Exception) -> int:
    print(f"inferwatch: {err}", file=sys.stderr)
    return 2


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
