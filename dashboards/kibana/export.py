"""Render the saved objects and the query DSL files, write them, and check committed copies.

Files (relative to the output folder): `inferwatch.ndjson` (the data view, then the saved
searches, one object a line: what Kibana's saved-objects import reads) and
`queries/<search>.json` (each search's query and sort as an Elasticsearch search body).
"""

from __future__ import annotations

import json
from pathlib import Path

from dashboards.kibana.objects import data_view, saved_search
from dashboards.kibana.searches import SEARCHES

HERE = Path(__file__).parent
NDJSON = "inferwatch.ndjson"
QUERIES = "queries"


def ndjson() -> str:
    """The saved objects, one compact JSON object a line as Kibana exports them (keys
    sorted, so a change diffs as itself)."""
    objects = [data_view(), *(saved_search(s) for s in SEARCHES)]
    return "".join(_line(o) + "\n" for o in objects)


def render_all() -> dict[str, str]:
    """Every generated file: relative file name -> text."""
    files = {NDJSON: ndjson()}
    for s in SEARCHES:
        files[f"{QUERIES}/{s.name}.json"] = json.dumps(s.dsl(), indent=2) + "\n"
    return files


def write(directory: Path = HERE) -> list[str]:
    """Write every file under `directory` and remove query files no search makes any more;
    returns the names written."""
    files = render_all()
    for name in _stale(directory, files):
        (directory / name).unlink()
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)


def check(directory: Path = HERE) -> list[str]:
    """The files under `directory` that differ from what the code generates: changed,
    missing, or a query file no search makes. Empty when all agree."""
    files = render_all()
    differ = [name for name, text in files.items() if _read(directory / name) != text]
    return sorted(differ + _stale(directory, files))


def _line(obj: dict) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _stale(directory: Path, files: dict[str, str]) -> list[str]:
    found = (directory / QUERIES).glob("*.json")
    return [f"{QUERIES}/{p.name}" for p in found if f"{QUERIES}/{p.name}" not in files]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
