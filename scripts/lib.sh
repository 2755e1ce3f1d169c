# Shared by scripts/setup-cpu.sh and scripts/test.sh (sourced, not run).

# The virtual environment everything is installed into: the distribution's Python stays
# untouched (PEP 668 forbids pip there on Debian 12 and Ubuntu 24.04).
INFERWATCH_VENV="${INFERWATCH_VENV:-.venv}"

# apt_install REASON PACKAGE...: install Debian/Ubuntu packages, as root or through sudo;
# where neither is possible, say exactly what to run and exit non-zero.
apt_install() {
  local reason=$1
  shift
  local sudo=()
  if ! command -v apt-get >/dev/null; then
    echo "setup: $reason; install these with your system's package manager: $*" >&2
    exit 1
  fi
  if ((EUID != 0)); then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "setup: $reason; as root, run:" >&2
      echo "  apt-get update && apt-get install -y $*" >&2
      exit 1
    fi
  fi
  echo "setup: $reason; installing with apt-get: $*" >&2
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    || ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
    echo "setup: apt-get failed; as root, run:" >&2
    echo "  apt-get update && apt-get install -y $*" >&2
    exit 1
  fi
}
