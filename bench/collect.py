"""Write BENCHMARKS.md: the summary (bench/results/summary.md), then every area's latest
figures (bench/results/<area>.md, in ORDER), each of which names the command that made it.

The history of the experiments is kept apart, in bench/NOTES.md; BENCHMARKS.md is the
report of where the project stands. Result files not in ORDER (scale_out.md, written by
bench/scale_out.py, shadow_overhead.md by bench/shadow_overhead.py, record_path_ab*.md, and
the smaller dashboard ones) are summed up in an area's file.

Usage: python bench/collect.py [--check]   (--check: exit 1 if BENCHMARKS.md is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
REPORT = Path(__file__).parents[1] / "BENCHMARKS.md"
ORDER = [
    "record_path",
    "peers",
    "serving_bench",
    "streams",
    "soak",
    "gpu",
    "shadow",
    "collectors",
    "cost",
    "safety",
    "store",
    "drift",
    "engine",
    "alerts",
    "dashboard_store",
    "dashboard_pages",
    "deploy",
]


def _demoted(text: str) -> str:
    """An area's file with its headings one level down (its title becomes a `##` section).
    Lines inside code fences are left alone (a `#` there is a shell comment)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(out)


def render(results: Path = RESULTS) -> str:
    """The text of BENCHMARKS.md assembled from the result files under `results`."""
    parts = [(results / "summary.md").read_text().rstrip()]
    parts += [_demoted((results / f"{area}.md").read_text().rstrip()) for area in ORDER]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    fresh = render()
    if "--check" in argv:
        stale = not REPORT.exists() or REPORT.read_text() != fresh
        if stale:
            print(f"{REPORT} is stale: run `python bench/collect.py`", file=sys.stderr)
        return int(stale)
    REPORT.write_text(fresh)
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
