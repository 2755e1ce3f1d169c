"""`alerts test` against local aiohttp receivers: accepted (exit 0) and refused (exit 1)."""

from __future__ import annotations

import argparse
import asyncio
import json

import pytest
from aiohttp import web

from alerts.webhooks import signing
from alerts.webhooks.cli import add_test_command
from tests.conftest import start_app

pytestmark = pytest.mark.integration


async def _run(tmp_path, status: int, capsys) -> tuple[int, str, list]:
    got = []

    async def hook(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=status, text="thanks " * 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner, url = await start_app(app)
    (tmp_path / "c.yaml").write_text(
        f"alerts: {{webhooks: [{{name: ops, url: '{url}/hook', format: slack, secret: k}}]}}"
    )
    parser = argparse.ArgumentParser()
    add_test_command(parser.add_subparsers())
    args = parser.parse_args(["test", "--receiver", "ops", "--config", str(tmp_path / "c.yaml")])
    try:
        code = await asyncio.to_thread(args.func, args)  # it runs its own event loop
    finally:
        await runner.cleanup()
    return code, capsys.readouterr().out, got


async def test_alerts_test_sends_a_signed_notification_and_prints_the_answer(tmp_path, capsys):
    code, out, [(headers, body)] = await _run(tmp_path, 200, capsys)
    assert code == 0
    assert out.startswith("receiver ops: sent (HTTP 200) in ")
    assert "HTTP 200: thanks thanks" in out and len(out) < 800  # the answer, truncated
    assert json.loads(body)["text"] == "[FIRING:1] InferwatchTest"
    assert signing.verify(headers[signing.HEADER], body, "k")


async def test_alerts_test_exits_1_when_the_receiver_refuses(tmp_path, capsys):
    code, out, got = await _run(tmp_path, 404, capsys)
    assert (code, len(got)) == (1, 1)
    assert out.startswith("receiver ops: refused (HTTP 404)")
