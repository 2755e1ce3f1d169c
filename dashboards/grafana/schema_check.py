"""Check Grafana boards against Grafana's own dashboard schema (@grafana/schema's types,
the panel plugins' option types, the Prometheus query type) by type-checking each board
as a TypeScript object literal with tsc, and tell each error by board, panel and JSON path.

Needs node and `npm ci --prefix dashboards/grafana/schema` (scripts/test.sh does both).
Usage: python -m dashboards.grafana.schema_check [BOARD.json ...]   (default: every board)
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashboards.grafana.schema_ts import TsBoard, render

HERE = Path(__file__).parent
SCHEMA_DIR = HERE / "schema"
_ERROR = re.compile(
    r"^(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$", re.M
)


@dataclass(frozen=True)
class SchemaError:
    """One tsc error, told in the board's terms."""

    board: str
    panel: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.board}: {self.panel or 'board'}: {self.path or '(top)'}: {self.message}"


def check_boards(
    boards: Mapping[str, dict[str, Any]], schema_dir: Path = SCHEMA_DIR
) -> list[SchemaError]:
    """Errors of every board (name -> dashboard JSON model); an empty list when all conform."""
    tsc = _tsc(schema_dir)
    types = str((schema_dir / "board-types").resolve())
    with tempfile.TemporaryDirectory(prefix="grafana-schema-") as tmp:
        rendered = _write(Path(tmp), boards, types, schema_dir)
        out = subprocess.run(
            [*tsc, "-p", str(Path(tmp) / "tsconfig.json")],
            capture_output=True,
            text=True,
            check=False,
        )
    errors = _parse(out.stdout, rendered)
    if out.returncode != 0 and not errors:
        raise RuntimeError(f"tsc failed (exit {out.returncode}): {out.stdout}{out.stderr}")
    return errors


def check_files(paths: Sequence[Path], schema_dir: Path = SCHEMA_DIR) -> list[SchemaError]:
    """Errors of the board files at `paths` (named by file name)."""
    boards = {}
    for path in paths:
        try:
            boards[path.name] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable JSON board: {exc}") from exc
    return check_boards(boards, schema_dir)


def _tsc(schema_dir: Path) -> list[str]:
    """The command that runs the pinned tsc, or a clear error saying what to install."""
    node = shutil.which("node")
    tsc = schema_dir / "node_modules" / "typescript" / "bin" / "tsc"
    if node is None:
        raise RuntimeError(
            "the Grafana schema check needs node (Debian: apt-get install nodejs npm)"
        )
    if not tsc.is_file() or not (schema_dir / "node_modules" / "@grafana" / "schema").is_dir():
        raise RuntimeError(
            f"the Grafana schema check needs its packages: npm ci --prefix {schema_dir}"
        )
    return [node, str(tsc)]


def _write(
    tmp: Path, boards: Mapping[str, dict], types: str, schema_dir: Path
) -> dict[str, tuple[str, TsBoard]]:
    """Each board as tmp/board<i>.ts, and a tsconfig that checks them all in one run."""
    rendered = {}
    for i, (name, board) in enumerate(boards.items()):
        ts = render(board, types, name)
        (tmp / f"board{i}.ts").write_text(ts.source, encoding="utf-8")
        rendered[f"board{i}.ts"] = (name, ts)
    config = {"extends": str((schema_dir / "tsconfig.json").resolve()), "files": sorted(rendered)}
    (tmp / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return rendered


def _parse(output: str, rendered: Mapping[str, tuple[str, TsBoard]]) -> list[SchemaError]:
    """tsc's errors, one per source position (their indented detail lines are left out: the
    first line names the property, and the path says where it is)."""
    errors: dict[tuple[str, int, int], SchemaError] = {}
    for match in _ERROR.finditer(output):
        file, line, col = Path(match["file"]).name, int(match["line"]), int(match["col"])
        name, ts = rendered.get(file, (file, None))
        where = ts.where[line - 1] if ts and line <= len(ts.where) else None
        message = f"{match['code']} {match['msg']}"
        # A panel's literal is checked as the panel type and again inside the board: once.
        errors.setdefault(
            (file, line, col),
            SchemaError(name, where.panel if where else "", where.path if where else "", message),
        )
    return list(errors.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Check the named boards (default: every dashboards/grafana/*.json); exit 1 on errors."""
    args = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a) for a in args] or sorted(HERE.glob("*.json"))
    errors = check_files(paths)
    for error in errors:
        print(error)
    print(f"{len(paths)} boards, {len(errors)} schema errors", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
