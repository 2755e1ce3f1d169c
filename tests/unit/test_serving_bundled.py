"""`inferwatch up`'s choice of model and what it tells the user."""

from __future__ import annotations

import pytest

from serving import bundled
from serving.config import ServingConfig
from serving.vllm_args import Launch

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("has_smollm2", "kind"), [(True, "smollm2"), (False, "tiny")])
def test_default_model_is_smollm2_when_its_wheel_is_installed(
    monkeypatch, tmp_path, has_smollm2, kind
):
    built = []
    monkeypatch.setattr(bundled.models, "smollm2_available", lambda: has_smollm2)
    monkeypatch.setattr(
        bundled.models, "build_smollm2", lambda p, progress: built.append(("smollm2", p)) or p
    )
    monkeypatch.setattr(
        bundled.models, "build_tiny", lambda p, progress: built.append(("tiny", p)) or p
    )
    path = bundled.resolve_model(ServingConfig(models_dir=str(tmp_path)), progress=False)
    assert built == [(kind, tmp_path / kind)] and path == tmp_path / kind


def test_configured_model_is_used_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert bundled.resolve_model(ServingConfig(model=str(tmp_path))) == tmp_path


def test_banner_says_where_to_look():
    launch = Launch(("python",), {}, "smollm2", "http://127.0.0.1:9")
    text = bundled.banner("http://127.0.0.1:8000", launch, 41.2)
    for want in (
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/metrics",
        "http://127.0.0.1:8000/health",
        '"model": "smollm2"',
        "41s",
    ):
        assert want in text
