"""What `inferwatch drift` does once its command line is parsed: open the source and the
snapshots from the settings, pick the windows, compare, and shape the result."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alerts.cli_args import show_time
from alerts.cost.cache import RecordSource
from alerts.drift.config import DriftConfig
from alerts.drift.report import DriftReport
from alerts.drift.snapshot import SnapshotError, Snapshots
from alerts.source import SourceUnavailable, StoreSource


class BadInput(Exception):
    """Something the user gave (or pointed at) cannot be used; the message says what."""


@dataclass
class Context:
    """The drift settings, a record source, and where snapshots live."""

    config: DriftConfig
    source: RecordSource
    data_dir: Path

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Context:
        """From `--config`, `--data-dir` and `--elasticsearch` (exits 2 on a bad config)."""
        from agent.cli import settings_from  # the main CLI imports this module's parent

        settings = settings_from(args)
        config = settings.alerts.drift
        es = settings.elasticsearch
        if getattr(args, "elasticsearch", None):
            return cls(config, es_source(es, config), settings.store.dir)
        path = settings.store.path
        if not path.is_file():
            raise BadInput(
                f"no request store at {path}: is the data folder right (--data-dir DIR, "
                "config store.dir)? `inferwatch up` creates it on its first request"
            )
        return cls(config, StoreSource(path, max_rows=config.source_max_rows), settings.store.dir)

    def snapshots(self) -> Snapshots:
        """The saved references in the data folder's alerts database."""
        from alerts import db

        return Snapshots(db.connect(self.data_dir / db.FILENAME), self.config.snapshot_max_rows)

    def frame(self, start: float, end: float) -> pd.DataFrame:
        """The source's records of [start, end); BadInput when it cannot be read."""
        try:
            return self.source.frame(start, end)
        except SourceUnavailable as err:
            raise BadInput(str(err)) from None


def es_source(es, config: DriftConfig):
    """A source on the request-log data stream of `es` (the agent's ElasticsearchConfig)."""
    from agent.shipping.template import index_pattern
    from alerts.source_es import ElasticsearchSource

    kwargs: dict = {"request_timeout": es.request_timeout_s, "verify_certs": es.verify_certs}
    if es.api_key is not None:
        kwargs["api_key"] = es.api_key.get_secret_value()
    elif es.username is not None and es.password is not None:
        kwargs["basic_auth"] = (es.username, es.password.get_secret_value())
    if es.ca_file is not None:
        kwargs["ca_certs"] = str(es.ca_file)
    pattern = index_pattern(es.data_stream)
    return ElasticsearchSource.connect(es.url, pattern, max_rows=config.source_max_rows, **kwargs)


@dataclass
class Result:
    """A report with the windows it compared."""

    report: DriftReport
    reference: dict
    current: dict
    notes: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """Some feature drifted in some segment."""
        return any(r.drifted for r in self.report.rows)

    def to_dict(self) -> dict:
        """The JSON of `--json`."""
        out = {"drifted": self.drifted, "reference": self.reference, "current": self.current}
        return {**out, **self.report.to_dict(), "notes": self.notes + self.report.notes}

    def text(self) -> str:
        """The terminal report."""
        head = [f"reference: {_show(self.reference)}", f"current:   {_show(self.current)}"]
        return "\n".join([*head, *self.notes, "", self.report.table()])


def _show(w: dict) -> str:
    where = f"snapshot {w['snapshot']}" if "snapshot" in w else ""
    span = f"{show_time(w['start'])} .. {show_time(w['end'])}" if "start" in w else ""
    return f"{where or span} ({w['rows']} requests)"


def windows(config: DriftConfig, args: argparse.Namespace, now: float):
    """((ref start, ref end) or None for a snapshot, (cur start, cur end))."""
    cur = args.current or (now - (args.window or config.window_s), now)
    if args.reference_snapshot or (config.reference_snapshot and not args.reference):
        return None, cur
    return args.reference or (cur[0] - config.reference_s, cur[0]), cur


def report(ctx: Context, args: argparse.Namespace, now: float) -> Result:
    """Compare the windows the arguments (or the config) name."""
    from alerts.drift.compare import compare

    ref_range, cur_range = windows(ctx.config, args, now)
    current = ctx.frame(*cur_range)
    if ref_range is None:
        name = args.reference_snapshot or ctx.config.reference_snapshot
        if not name:  # `windows` returns no range only where a snapshot is named
            raise BadInput("no reference: name a window or a snapshot")
        try:
            reference = ctx.snapshots().load(name)
        except SnapshotError as err:
            raise BadInput(str(err)) from None
        ref_info: dict = {"snapshot": name}
    else:
        reference = ctx.frame(*ref_range)
        ref_info = {"start": ref_range[0], "end": ref_range[1]}
    result = compare(reference, current, ctx.config)
    notes = _enough(len(reference), len(current), ctx.config.min_rows)
    cur_info = {"start": cur_range[0], "end": cur_range[1], "rows": len(current)}
    return Result(result, {**ref_info, "rows": len(reference)}, cur_info, notes)


def _enough(n_ref: int, n_cur: int, min_rows: int) -> list[str]:
    return [
        f"not enough data: the {name} window has {n} requests (at least {min_rows} needed)"
        for name, n in (("reference", n_ref), ("current", n_cur))
        if n < min_rows
    ]


def snapshot(ctx: Context, args: argparse.Namespace, now: float) -> list[str]:
    """Save, list or delete; the lines to print."""
    snaps = ctx.snapshots()
    try:
        if args.list:
            return [_line(i) for i in snaps.list()] or ["no snapshots saved"]
        if not args.name:
            raise BadInput("give a snapshot NAME (or --list)")
        if args.delete:
            if not snaps.delete(args.name):
                raise BadInput(f"no drift snapshot named {args.name!r}")
            return [f"deleted {args.name}"]
        start, end = args.reference or (now - (args.window or ctx.config.window_s), now)
        info = snaps.save(args.name, ctx.frame(start, end), start, end, now)
    except SnapshotError as err:
        raise BadInput(str(err)) from None
    return [f"saved {_line(info)}"]


def _line(i) -> str:
    span = f"{show_time(i.start)} .. {show_time(i.end)}"
    return f"{i.name}: {i.rows} requests of {span}, {i.size_bytes} bytes"
