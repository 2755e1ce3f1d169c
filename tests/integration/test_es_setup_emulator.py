"""`inferwatch es setup` against the Elasticsearch emulator (noida-db), which has no
lifecycle or data-stream API: the template is installed, the refusals are reported, and
documents written afterwards get the template's mapping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch import AsyncElasticsearch

from agent.shipping.template import MAPPING
from tests.es_emulator import es_emulator  # noqa: F401 - fixture
from tests.es_helpers import DATA_STREAM

pytestmark = [pytest.mark.integration, pytest.mark.elasticsearch]

ROOT = Path(__file__).resolve().parents[2]


async def test_es_setup_installs_the_template_and_reports_refused_steps(
    es_emulator,  # noqa: F811
):
    cmd = [sys.executable, "-m", "agent.cli", "es", "setup", "--elasticsearch", es_emulator.url]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "installed: index_template" in done.stdout
    assert "refused:   lifecycle_policy (400" in done.stdout
    assert "refused:   data_stream (400" in done.stdout
    es = AsyncElasticsearch(es_emulator.url)
    try:
        templates = (await es.indices.get_index_template(name="inferwatch"))["index_templates"]
        assert templates[0]["index_template"]["index_patterns"] == ["logs-inferwatch-*"]
        await es.index(index=DATA_STREAM, id="x", document={"@timestamp": "2026-01-01T00:00:00Z"})
        mapping = (await es.indices.get_mapping(index=DATA_STREAM))[DATA_STREAM]["mappings"]
        usage = mapping["properties"]["gen_ai"]["properties"]["usage"]["properties"]
        assert usage["input_tokens"]["type"] == "long"
        assert mapping["properties"]["user"] == MAPPING["properties"]["user"]
    finally:
        await es.close()


def test_es_setup_exits_1_when_the_cluster_is_unreachable(tmp_path):
    from tests.es_emulator import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cmd = [sys.executable, "-m", "agent.cli", "es", "setup", "--elasticsearch", url]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "cannot reach Elasticsearch" in done.stderr
