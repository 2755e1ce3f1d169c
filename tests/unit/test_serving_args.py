"""vLLM's command line and environment chosen for the machine."""

from __future__ import annotations

import json

import pytest

from serving.config import ServingConfig
from serving.vllm_args import Machine, build_launch, choose_kv_cache_gib

pytestmark = pytest.mark.unit
GIB = 1024**3


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "my-model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"max_position_embeddings": 8192}))
    return d


def _flag(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def test_cpu_launch_uses_module_entrypoint_eager_float32_and_capped_len(model_dir):
    cpu = Machine("cpu", frozenset({"avx2", "avx512f"}), 20 * GIB)
    launch = build_launch(ServingConfig(), cpu, model_dir, 4321)
    argv = list(launch.argv)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "serve" not in argv
    assert "--enforce-eager" in argv
    assert _flag(argv, "--dtype") == "float32"
    assert _flag(argv, "--max-model-len") == "2048"
    assert _flag(argv, "--served-model-name") == "my-model"
    assert _flag(argv, "--port") == "4321" and launch.url == "http://127.0.0.1:4321"
    assert launch.env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert launch.env["HF_HUB_OFFLINE"] == "1"


def test_cpu_with_native_bf16_picks_bfloat16(model_dir):
    cpu = Machine("cpu", frozenset({"avx512_bf16"}), 8 * GIB)
    assert (
        _flag(list(build_launch(ServingConfig(), cpu, model_dir, 1).argv), "--dtype") == "bfloat16"
    )


def test_gpu_launch_leaves_dtype_len_and_eager_to_vllm(model_dir):
    launch = build_launch(ServingConfig(), Machine("gpu"), model_dir, 1)
    argv = list(launch.argv)
    assert "--enforce-eager" not in argv and "--dtype" not in argv and "--max-model-len" not in argv
    assert "VLLM_CPU_KVCACHE_SPACE" not in launch.env


def test_configured_values_win_and_extra_args_pass_through(model_dir):
    cfg = ServingConfig(
        served_model_name="m",
        max_model_len=512,
        dtype="bfloat16",
        kv_cache_gib=3,
        extra_args=["--max-num-seqs", "8"],
    )
    launch = build_launch(cfg, Machine("cpu", frozenset(), GIB), model_dir, 1)
    argv = list(launch.argv)
    assert _flag(argv, "--served-model-name") == "m"
    assert _flag(argv, "--max-model-len") == "512"
    assert _flag(argv, "--dtype") == "bfloat16"
    assert argv[-2:] == ["--max-num-seqs", "8"]
    assert launch.env["VLLM_CPU_KVCACHE_SPACE"] == "3"


@pytest.mark.parametrize(("avail_gib", "want"), [(0.5, 1), (12, 1), (25, 2), (200, 4)])
def test_kv_cache_default_is_a_tenth_of_free_memory_between_1_and_4(avail_gib, want):
    machine = Machine("cpu", frozenset(), int(avail_gib * GIB))
    assert choose_kv_cache_gib(ServingConfig(), machine) == want


def test_short_context_model_keeps_its_own_length(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    argv = list(build_launch(ServingConfig(), Machine("cpu"), tmp_path, 1).argv)
    assert _flag(argv, "--max-model-len") == "512"
