"""A live agent configured so that every series the Grafana boards read gets samples, and
the traffic that fills them, for tests/integration/test_grafana_panels_prometheus.py.

The upstream is the scripted fake (tests/fake_upstream.py, not vLLM; it also serves a
real vLLM /metrics capture), the GPUs are the stand-in NVML library (tests/nvml_stub).
"""

from __future__ import annotations

import asyncio
import itertools

import aiohttp

TENANTS = ("acme", "globex", "initech")
MODEL = "fake-model"
SIGNING_SECRET = "grafana-panels-secret"
# Three healthy stand-in GPUs; GPU 0 shared by two processes (per-process utilisation is
# read only on a shared GPU), an XID error and a failing NVML read (the XID and NVML-error
# panels would stay empty without them).
NVML_EXTRA = [
    *("gpu 0 proc 4242 1073741824", "gpu 0 proc 4343 2048"),
    *("gpu 0 putil 4242 30", "gpu 0 putil 4343 10"),
    *("gpu 1 xid 79", "gpu 2 fail temp 3"),
]
EMAIL_PROMPT = "mail me at jane.doe@example.com please"  # pii.email: redacted (input)
SECRET_PROMPT = "my key is sk-" + "a1B2" * 10  # secret.openai_key: blocked (input)
BLOCKED_WORD = "tok7"  # in every answer of 8 or more tokens: blocklist.term, flagged (output)


def agent_settings(nvml_lib: str, store_dir: str, receiver_url: str, upstream_url: str) -> dict:
    """Overrides of the agent's settings: stand-in GPUs, cost with prices, budgets and
    hosted-API prices, safety filters that act in both directions, alerts (drift, cost
    anomalies, budgets) on windows of seconds, delivering to `receiver_url`, and a canary
    experiment over two names of the upstream at `upstream_url`."""
    return {
        "listen": {"port": 0},
        **canary_settings(upstream_url),
        "store": {"dir": store_dir},
        "collectors": {
            "interval_s": 0.2,
            "timeout_s": 10.0,
            "nvml_library": nvml_lib,
            "dcgm_compat": True,
            "hostname": "panels-host",
        },
        "cost": {
            "hosted_prices": {MODEL: {"input_per_1m": 0.5, "output_per_1m": 1.5}},
            # acme's budget is used up in seconds (the exceeded counter), globex's never.
            "budgets": {"acme": 1e-6, "globex": 1000.0},
        },
        "safety": {
            "actions": {"pii": "redact", "secret": "block", "blocklist": "block"},
            "output_actions": {"blocklist": "flag"},
            "blocklist": [BLOCKED_WORD],
        },
        "alerts": alerts_settings(receiver_url),
    }


def canary_settings(upstream_url: str) -> dict:
    """A canary holding its first step (half of the traffic) for the whole test, each
    request placed at random: both variants fill the Experiments board's panels. Its gate
    never looks within the test (the board shows the canary, the gate is tested elsewhere).
    One experiment runs at a time, so the board's shadow panels stay empty here."""
    return {
        "upstreams": [
            {"name": "stable", "url": upstream_url, "weight": 100},
            {"name": "candidate", "url": upstream_url, "weight": 0},
        ],
        "experiments": [
            {
                "name": "candidate-canary",
                "kind": "canary",
                "control": "stable",
                "variant": "candidate",
                "sticky": "none",
                "steps": [{"weight": 50, "hold_s": 3600}],
                "gate": {"check_every_s": 3600},
            }
        ],
    }


def alerts_settings(receiver_url: str) -> dict:
    """Drift and cost detectors on windows of a few seconds (as test_alerts_scenario)."""
    return {
        "enabled": True,
        "interval_s": 1.0,
        "drift": {"window_s": 6.0, "reference_s": 6.0, "min_rows": 20},
        "cost": {
            "interval_s": 1.0,
            "min_points": 3,
            # A cost anomaly within seconds: no absolute floor under the band (this
            # setup's spend is a fraction of a cent per second), one interval outside it.
            "min_band_abs": 0.0,
            "consecutive": 1,
            "trailing_s": 60.0,
            "settle_s": 5.0,
            "forecast_window_s": 10.0,
            "budgets": [{"tenant": "acme", "amount": 1e-6}, {"tenant": "globex", "amount": 1e3}],
        },
        "route": {"receivers": ["hook"], "group_wait_s": 0.5, "group_interval_s": 2.0},
        "webhooks": [{"name": "hook", "url": receiver_url + "/hook", "secret": SIGNING_SECRET}],
        "allowed_hosts": ["127.0.0.1"],
        "delivery": {"poll_interval_s": 0.2},
    }


async def traffic(url: str, n: int, tokens: int, seconds: float, chunk_s: float = 0) -> None:
    """`n` chat completions spread over `seconds`, rotating tenants, streamed and not;
    every 7th fails upstream (500), every 5th has an email, every 11th a secret; streamed
    answers pause `chunk_s` between chunks (the GPUs' time then goes to requests)."""
    tenants = itertools.cycle(TENANTS)
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            await _one(s, url, i, next(tenants), tokens, chunk_s)
            await asyncio.sleep(seconds / n)


async def steady(url: str, every_s: float, tokens: int, chunk_s: float) -> None:
    """One request every `every_s` until cancelled: the agent stays under traffic while
    the panels are evaluated (an instant query reads a rate at the window's end)."""
    tenants = itertools.cycle(TENANTS)
    async with aiohttp.ClientSession() as s:
        for i in itertools.count():
            await _one(s, url, i, next(tenants), tokens, chunk_s)
            await asyncio.sleep(every_s)


async def _one(
    s: aiohttp.ClientSession, url: str, i: int, tenant: str, tokens: int, chunk_s: float
) -> None:
    prompt = EMAIL_PROMPT if i % 5 == 0 else SECRET_PROMPT if i % 11 == 0 else f"q {i}"
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
    if i % 2:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    headers = {
        "x-tenant-id": tenant,
        "x-fake-tokens": str(tokens),
        "x-fake-chunk-delay": str(chunk_s),
    }
    if i % 7 == 3:
        headers["x-fake-status"] = "500"
    async with s.post(f"{url}/v1/chat/completions", json=body, headers=headers) as r:
        await r.read()
