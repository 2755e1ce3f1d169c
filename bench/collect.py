"""Write BENCHMARKS.md: the summary (bench/results/summary.md) followed by every area's
latest figures (bench/results/<area>.md), each of which names the command that made it.

Usage: python bench/collect.py
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ORDER = [
    "proxy",
    "serving",
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
    "scale_out",
]


def main() -> None:
    parts = [(RESULTS / "summary.md").read_text().rstrip()]
    for area in ORDER:
        text = (RESULTS / f"{area}.md").read_text().rstrip()
        # Each area's own headings move one level down under BENCHMARKS.md's title.
        parts.append(
            "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        )
    out = Path(__file__).parents[1] / "BENCHMARKS.md"
    out.write_text("\n\n".join(parts) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
