#!/usr/bin/env bash
# The static checks CI runs before the tests (scripts/test.sh): ruff's lint rules and
# formatting over the whole tree, then mypy over the packages ([tool.mypy] in
# pyproject.toml). Any failure fails the run. Needs the venv of scripts/setup-cpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bin="$INFERWATCH_VENV/bin"
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"
