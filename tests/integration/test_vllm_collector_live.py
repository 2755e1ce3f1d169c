"""The vLLM /metrics collector scraping a live endpoint: starts a small HTTP server (a
stand-in for vLLM, not vLLM) on a loopback port that serves a real vLLM 0.32 capture."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from collectors.base import Collector
from collectors.vllm import EXPORTS, VLLMCollector

pytestmark = pytest.mark.integration
CAPTURE = (Path(__file__).parent.parent / "fixtures" / "vllm-0.32-cpu-metrics.txt").read_text()


@pytest.fixture
def metrics_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = CAPTURE.encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_collect_scrapes_a_live_endpoint(metrics_server):
    collector = VLLMCollector(metrics_server)
    assert isinstance(collector, Collector)
    snap = collector.collect()
    assert snap.collector == "vllm" and len(snap.families) == len(EXPORTS) + 1
