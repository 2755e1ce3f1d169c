"""`inferwatch up`'s choice of model and what it tells the user."""

from __future__ import annotations

import re

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
    assert "dashboard" not in text
    with_dashboard = bundled.banner(
        "http://127.0.0.1:8000", launch, 41.2, dashboard="http://127.0.0.1:8501 (reads ...)"
    )
    assert re.search(r"\n  dashboard +http://127\.0\.0\.1:8501 \(reads \.\.\.\)\n", with_dashboard)


async def test_no_warning_while_the_bundled_vllm_is_expected_to_be_starting(caplog, tmp_path):
    """The agent's first probe and the vLLM collector's first scrape run before vLLM can
    answer; that wait is expected and says nothing. Once vLLM was up, the same failures
    warn again. The 'vLLM' here is a closed port (no server: nothing is started)."""
    from agent.app import Agent
    from agent.config import load_settings
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    settings = load_settings(
        overrides={
            "store": {"enabled": False},
            "collectors": {"enabled": {"nvml": False, "host": False}},
        }
    )
    agent = Agent(settings, url)
    launch = Launch(("python",), {}, "m", url)
    bundled.attach(agent, settings.serving, launch, progress=False)
    try:
        caplog.set_level("INFO")
        await agent.upstream.probe()  # as the agent's probe loop does before the supervisor
        await agent.collectors.tick()
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []

        agent.upstream.state.starting = False  # vLLM became ready, then went away
        agent.upstream.mark(True)
        await agent.upstream.probe()
        await agent.collectors.tick()
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert "upstream down" in warnings and "collector vllm failed (error)" in warnings
    finally:
        await agent.upstream.close()
