#!/usr/bin/env bash
# bench/gpu_wheels.sh: download, on a machine with PyPI, the wheels that bench/gpu_check.sh
# installs offline on the GPU machine (which reaches no registry), into the git-ignored
# bench/.gpu-wheels, with a requirements.txt of the exact versions; the device tool carries
# the folder (`carry=["bench/.gpu-wheels"]`), 64 MiB at most with the working tree.
#
# Which wheels: what `inferwatch up --upstream URL` imports with safety off, no
# Elasticsearch and no OTLP endpoint (read with `python -X importtime`), less what the GPU
# machine's image already holds (/work/.library/device/KINDS.md: numpy, pandas, scipy,
# scikit-learn, psutil, PyYAML, uvloop, tqdm, torch, transformers, tokenizers). aiohttp and
# its compiled helpers, prometheus-client and nvidia-ml-py are there too, but travel anyway
# at the versions the tests ran (requirements/agent.lock), being what the check measures.
# Left out: opentelemetry, elasticsearch, streamlit, plotly, grafana-foundation-sdk (never
# imported by `up` in this setup).
#
# Python: the GPU machine's python3 was 3.12.3 (KINDS.md); 3.11 is fetched too in case the
# image moves back. 3.10 is not: the agent requires Python >= 3.11.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bash bench/gpu_wheels.sh [--python-versions "3.12 3.11"] [--dest DIR] [--help]

Downloads the agent's wheels for the GPU machine (manylinux x86_64, CPython) into DIR
(default bench/.gpu-wheels), writes DIR/requirements.txt, and fails if the folder passes
MAX_MIB (default 32) mebibytes. Versions come from requirements/agent.lock.
Environment: PYTHON (default python3; needs pip), MAX_MIB.
EOF
}

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
VERSIONS="3.12 3.11"
DEST="$REPO/bench/.gpu-wheels"
MAX_MIB="${MAX_MIB:-32}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python-versions) VERSIONS="$2"; shift ;;
    --dest) DEST="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_wheels: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

PACKAGES=(
  orjson pydantic pydantic-core pydantic-settings python-dotenv annotated-types
  typing-inspection typing-extensions python-json-logger hyperscan nvidia-ml-py
  prometheus-client aiohttp multidict yarl propcache frozenlist aiosignal aiohappyeyeballs attrs
)
LOCK="$REPO/requirements/agent.lock"
pinned() {  # NAME==VERSION as the lock has it (no environment marker)
  grep -i "^$1==" "$LOCK" | head -n 1 | sed 's/ *;.*//; s/ *\\$//' || true
}

rm -rf "$DEST"
mkdir -p "$DEST"
: > "$DEST/requirements.txt"
for name in "${PACKAGES[@]}"; do
  pin="$(pinned "$name")"
  [[ -n "$pin" ]] || { echo "gpu_wheels: $name is not in $LOCK" >&2; exit 1; }
  echo "$pin" >> "$DEST/requirements.txt"
done
for version in $VERSIONS; do
  echo "gpu_wheels: CPython $version"
  "$PY" -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
    --python-version "$version" --implementation cp --abi "cp${version/./}" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any \
    -d "$DEST" -r "$DEST/requirements.txt"
done
KIB="$(du -sk "$DEST" | cut -f1)"
echo "gpu_wheels: $(ls "$DEST"/*.whl | wc -l) wheels, $((KIB / 1024)) MiB ($KIB KiB) in $DEST"
if (( KIB > MAX_MIB * 1024 )); then
  echo "gpu_wheels: more than $MAX_MIB MiB: the device tool carries 64 MiB in all" >&2
  exit 1
fi
