"""`inferwatch grafana export`: write the boards (and their Kubernetes ConfigMaps), or
check that the committed copies are what the code generates."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from agent.cost.prices import DEFAULT_CURRENCY

# The committed outputs: the package's folder and the source tree's deploy/ (absent from an
# installed wheel). The generator (grafana-foundation-sdk and every board) is imported only
# when the command runs, so `inferwatch up` does not pay for it.
HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def add_grafana_command(sub) -> None:
    """Register `inferwatch grafana export`."""
    p = sub.add_parser("grafana", help="Grafana dashboards: export or check them")
    gsub = p.add_subparsers(dest="grafana_cmd", required=True, metavar="ACTION")
    e = gsub.add_parser(
        "export",
        help="write the dashboards as Grafana JSON",
        description="Generate the seven inferwatch boards (serving, cost, gpus, engine, safety, "
        "health, experiments) from the metrics catalogue. Without DIR: rewrite the committed copies, "
        "dashboards/grafana/*.json and deploy/kubernetes/base/grafana-dashboards.yaml.",
    )
    e.add_argument(
        "dir",
        nargs="?",
        type=Path,
        help="write the boards into this folder instead of the committed copies",
    )
    e.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every committed file that differs from the "
        "generated one (CI runs this)",
    )
    e.add_argument(
        "--provisioning",
        action="store_true",
        help="with DIR: write the flavour for Grafana's file provisioning (no import "
        "inputs; the default Prometheus datasource is used)",
    )
    e.add_argument(
        "--currency",
        default=DEFAULT_CURRENCY,
        metavar="CODE",
        help="unit of the cost panels: your cost.currency (default %(default)s); the "
        "committed boards use the default",
    )
    e.set_defaults(func=cmd_export)


def outputs(options) -> dict[Path, str]:
    """The committed outputs: path under the source tree -> text."""
    from dashboards.grafana.export import render_all
    from dashboards.grafana.provisioning import CONFIGMAPS, configmaps

    out = {HERE / name: body for name, body in render_all(options).items()}
    out[ROOT / CONFIGMAPS] = configmaps(options)
    return out


def cmd_export(args: argparse.Namespace) -> int:
    """Write or check the boards."""
    from dashboards.grafana.board import DEFAULTS, BoardOptions
    from dashboards.grafana.export import render_all
    from dashboards.grafana.provisioning import provisioning_files

    options = BoardOptions(currency=args.currency.upper())
    if not re.fullmatch(r"[A-Z]{3}", options.currency):
        print(
            f"grafana export: --currency {args.currency!r} is not an ISO 4217 code", file=sys.stderr
        )
        return 2
    if args.provisioning and args.dir is None:
        print("grafana export: --provisioning needs DIR", file=sys.stderr)
        return 2
    if args.dir is None and not (ROOT / "deploy" / "kubernetes").is_dir():
        # An installed copy (a wheel, the container) has no committed boards to rewrite.
        print(
            "grafana export: not in a source checkout (no deploy/kubernetes beside the "
            "package): give a folder, e.g. `inferwatch grafana export --provisioning DIR`",
            file=sys.stderr,
        )
        return 2
    if args.check:
        return _check(outputs(DEFAULTS))
    if args.dir is None:
        files = outputs(options)
    else:
        boards = provisioning_files(options) if args.provisioning else render_all(options)
        files = {args.dir / name: body for name, body in boards.items()}
    return _write(files)


def _write(files: dict[Path, str]) -> int:
    for path, body in files.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
        except OSError as err:
            print(f"grafana export: cannot write {path}: {err.strerror or err}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    return 0


def _check(files: dict[Path, str]) -> int:
    stale = [p for p, body in files.items() if not p.exists() or p.read_text() != body]
    for path in stale:
        print(f"differs from the generated board: {path}", file=sys.stderr)
    if stale:
        print("run `inferwatch grafana export` and commit the result", file=sys.stderr)
        return 1
    print(f"{len(files)} files match what the code generates")
    return 0
