"""The tiny test model: a deterministic random-weight Llama with a byte-level BPE tokenizer
trained here with `tokenizers` and a ChatML chat template. ~10 s and ~10 MB."""

from __future__ import annotations

import random
from pathlib import Path

from tqdm import tqdm

from serving.model_dir import is_built, mark_built, offline

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
_WORDS = tuple(
    [
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
    ]  # noqa: SIM905
)


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


def _config(tok, max_len: int):
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
        dtype="float32",  # `torch_dtype` before transformers 4.56 (deprecated since)
    )


def build_tiny(path: str | Path, max_len: int = 2048, progress: bool = True) -> Path:
    """Build the tiny model into `path` (kept as is if already built)."""
    path = Path(path)
    if is_built(path):
        return path
    offline()
    steps = tqdm(total=4, desc="tiny model", unit="step", disable=not progress)
    import torch
    from transformers import LlamaForCausalLM

    steps.update()
    tok = _train_tokenizer(8000)
    steps.update()
    torch.manual_seed(0)  # deterministic weights: the same model on every machine
    model = LlamaForCausalLM(_config(tok, max_len))
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    steps.update()
    _save_tokenizer(tok, path, max_len)
    mark_built(path, "tiny")
    steps.update()
    steps.close()
    return path
