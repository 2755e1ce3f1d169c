"""Experiments through a real in-process agent, between two stand-in upstreams (the
scripted fake upstream of tests/fake_upstream.py and a second, distinguishable one: not
vLLM; the real two-vLLM runs are in test_experiments_vllm.py)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from scipy import stats

from tests.conftest import free_port, start_app
from tests.experiment_upstreams import CHAT, Variant, experiment_config, metric_sample

pytestmark = pytest.mark.integration


async def _chat(session, url, stream=False, headers=None, content="hello there"):
    body = {"model": "m", "messages": [{"role": "user", "content": content}], "stream": stream}
    async with session.post(url + CHAT, json=body, headers=headers or {}) as resp:
        return resp.status, await resp.read()


async def test_a_split_sends_each_upstream_its_weight_and_labels_records_and_metrics(
    fake_upstream, variant, start_agent
):
    cfg = experiment_config(fake_upstream.url, variant.url, {"kind": "split"}, weights=(70, 30))
    ra = await start_agent(fake_upstream.url, **cfg)
    n = 300
    async with aiohttp.ClientSession() as s:
        got = await asyncio.gather(*(_chat(s, ra.url) for _ in range(n)))
    assert {status for status, _ in got} == {200}
    to_variant = sum(b"VARIANT" in body for _, body in got)
    low, high = stats.binom.interval(0.999, n, 0.30)
    assert low <= to_variant <= high and len(variant.bodies) == to_variant
    records = await ra.records(n)
    by = {r.variant for r in records}
    assert by == {"control", "candidate"} and {r.experiment for r in records} == {"exp1"}
    assert sum(r.variant == "candidate" for r in records) == to_variant
    # Only the primary runs on hardware this agent meters: the candidate's requests take
    # no share of it, and their records have no cost (rather than a share of another's).
    assert {r.cost_status for r in records if r.variant == "candidate"} == {"unmetered"}
    assert {r.cost_amount for r in records if r.variant == "candidate"} == {None}
    assert {r.cost_status for r in records if r.variant == "control"} <= {"final", "unmetered"}
    async with aiohttp.ClientSession() as s, s.get(ra.url + "/metrics") as resp:
        page = await resp.text()
    counted = metric_sample(
        page, "inferwatch_experiment_requests_total", variant="candidate", status="ok"
    )
    assert counted == to_variant


@pytest.mark.parametrize("stream", [False, True])
async def test_a_shadow_never_changes_what_the_client_receives_and_records_the_copy(
    fake_upstream, variant, start_agent, stream
):
    cfg = experiment_config(
        fake_upstream.url, variant.url, {"kind": "shadow", "shadow": {"fraction": 1.0}}
    )
    ra = await start_agent(fake_upstream.url, **cfg)
    async with aiohttp.ClientSession() as s:
        status, body = await _chat(s, ra.url, stream=stream)
    assert status == 200 and b"VARIANT" not in body and b"tok0" in body
    records = await ra.records(2)
    primary = next(r for r in records if r.shadow_of is None)
    copy = next(r for r in records if r.shadow_of is not None)
    assert primary.variant == "control" and primary.experiment == "exp1"
    assert (
        copy.variant == "candidate" and copy.shadow_of == primary.request_id and copy.status == "ok"
    )
    assert (
        copy.completion_tokens == 2 and copy.prompt_tokens == 7
    )  # the shadow's own answer, measured
    assert copy.trace_id == primary.trace_id and copy.parent_span_id == primary.span_id
    assert variant.seen[0]["x-request-id"] == copy.request_id != primary.request_id
    assert variant.bodies[0]["messages"] == [{"role": "user", "content": "hello there"}]
    assert (
        metric_sample(
            (await _page(ra)), "inferwatch_experiment_shadow_requests_total", outcome="ok"
        )
        == 1
    )
    # The general request metrics count the client's request only, per model and per tenant.
    model = {"gen_ai_request_model": "m", "gen_ai_operation_name": "chat", "status": "ok"}
    assert ra.metric("gen_ai_server_request_duration_seconds_count", model) == 1
    tenant = {"gen_ai_request_model": "m", "tenant": "default", "status": "ok"}
    assert ra.metric("inferwatch_requests_total", tenant) == 1
    assert ra.metric("inferwatch_tenant_request_duration_seconds_count", {"tenant": "default"}) == 1


async def _page(ra) -> str:
    async with aiohttp.ClientSession() as s, s.get(ra.url + "/metrics") as resp:
        return await resp.text()


async def test_a_shadow_upstream_that_is_down_leaves_the_primary_alone_and_is_counted(
    fake_upstream, start_agent
):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = experiment_config(
        fake_upstream.url, dead, {"kind": "shadow", "shadow": {"fraction": 1.0}}
    )
    ra = await start_agent(fake_upstream.url, **cfg)
    async with aiohttp.ClientSession() as s:
        got = [await _chat(s, ra.url) for _ in range(5)]
    assert [status for status, _ in got] == [200] * 5
    records = await ra.records(10)
    copies = [r for r in records if r.shadow_of is not None]
    assert len(copies) == 5 and {r.status for r in copies} == {"error"}
    assert {r.error_type for r in copies} == {"upstream_unavailable"}
    assert {r.status for r in records if r.shadow_of is None} == {"ok"}
    assert (
        metric_sample(
            await _page(ra), "inferwatch_experiment_shadow_requests_total", outcome="error"
        )
        == 5
    )
    assert metric_sample(await _page(ra), "inferwatch_upstreams_up", upstream="candidate") == 0
    async with aiohttp.ClientSession() as s, s.get(ra.url + "/health") as resp:
        health = await resp.json()
    assert resp.status == 200  # the primary serves: the dead shadow does not fail the agent
    assert health["upstreams"]["candidate"]["status"] == "down"
    assert health["upstreams"]["control"]["status"] == "up"


async def test_a_parallel_shadow_is_cancelled_when_the_client_hangs_up(fake_upstream, start_agent):
    slow = Variant(delay_s=30)
    runner, slow.url = await start_app(slow.app)
    try:
        cfg = experiment_config(
            fake_upstream.url,
            slow.url,
            {"kind": "shadow", "shadow": {"fraction": 1.0, "mode": "parallel"}},
        )
        ra = await start_agent(fake_upstream.url, **cfg)
        async with aiohttp.ClientSession() as s:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await _chat(s, ra.url, headers={"x-fake-delay-headers": "30"})
        records = await ra.records(2)
        copy = next(r for r in records if r.shadow_of is not None)
        assert copy.status == "cancelled" and "shadow copy cancelled" in copy.error_message
        assert (
            metric_sample(
                await _page(ra), "inferwatch_experiment_shadow_requests_total", outcome="cancelled"
            )
            == 1
        )
    finally:
        await runner.cleanup()


async def test_shadow_copies_past_max_in_flight_are_skipped_and_counted(fake_upstream, start_agent):
    slow = Variant(delay_s=30)
    runner, slow.url = await start_app(slow.app)
    try:
        shadow = {"fraction": 1.0, "max_in_flight": 2}
        ra = await start_agent(
            fake_upstream.url,
            **experiment_config(fake_upstream.url, slow.url, {"kind": "shadow", "shadow": shadow}),
        )
        async with aiohttp.ClientSession() as s:
            got = [await _chat(s, ra.url) for _ in range(5)]
        assert [status for status, _ in got] == [200] * 5  # the client never waited for a copy
        assert (
            metric_sample(
                await _page(ra), "inferwatch_experiment_shadow_requests_total", outcome="skipped"
            )
            == 3
        )
        assert len(slow.bodies) == 2
    finally:
        await runner.cleanup()


async def test_the_experiments_endpoint_lists_the_running_experiment_and_its_shares(
    fake_upstream, variant, start_agent
):
    ra = await start_agent(
        fake_upstream.url,
        **experiment_config(fake_upstream.url, variant.url, {"kind": "split"}, (90, 10)),
    )
    async with aiohttp.ClientSession() as s:
        async with s.get(ra.url + "/inferwatch/experiments") as resp:
            assert resp.status == 200
            body = await resp.json()
        async with s.get(ra.url + "/inferwatch/experiments/nope") as resp:
            assert resp.status == 404
            assert "no experiment named nope" in (await resp.json())["error"]["message"]
    (exp,) = body["experiments"]
    assert (
        exp["name"] == "exp1"
        and exp["kind"] == "split"
        and exp["shares"] == {"control": 90.0, "candidate": 10.0}
    )


async def _stored(ra, n: int, timeout: float = 20.0) -> None:
    """Wait until the agent's store holds `n` experiment rows (the store's writer is
    asynchronous, behind the cost stage's hold)."""
    import sqlite3

    path = ra.agent.settings.store.path
    async with asyncio.timeout(timeout):
        while True:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                got = conn.execute(
                    "SELECT count(*) FROM requests WHERE experiment IS NOT NULL"
                ).fetchone()[0]
            finally:
                conn.close()
            if got >= n:
                return
            await asyncio.sleep(0.1)


async def test_the_comparison_and_the_gate_come_from_the_store_as_json(
    fake_upstream, variant, start_agent
):
    ra = await start_agent(
        fake_upstream.url,
        **experiment_config(fake_upstream.url, variant.url, {"kind": "split"}, (50, 50)),
    )
    n = 120
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(_chat(s, ra.url) for _ in range(n)))
        await _stored(ra, n)
        async with s.get(ra.url + "/inferwatch/experiments/exp1") as resp:
            assert resp.status == 200
            detail = await resp.json()
        async with s.get(ra.url + "/inferwatch/experiments/exp1/gate") as resp:
            gate_status, gate = resp.status, await resp.json()
        async with s.get(ra.url + "/inferwatch/experiments/exp1/gate?require=pass") as resp:
            lenient_status = resp.status  # the decision is in the body (Argo Rollouts)
        # Flagger's webhooks POST a JSON payload and fail on any non-2xx answer.
        flagger = ra.url + "/inferwatch/experiments/exp1/gate?require=pass&enforce=1"
        async with s.post(flagger, json={"name": "podinfo", "phase": "Progressing"}) as resp:
            strict_status = resp.status
    report = detail["report"]
    assert (
        detail["control"] == "control"
        and detail["variant"] == "candidate"
        and report["kind"] == "split"
    )
    tokens = next(m for m in report["metrics"] if m["metric"] == "completion_tokens")
    # The stand-ins answer 5 and 2 completion tokens: the variant is clearly different.
    assert tokens["effect"]["control"] == 5 and tokens["effect"]["variant"] == 2
    assert tokens["verdict"] == "better"  # fewer tokens, lower is better
    assert report["n"]["control"] + report["n"]["variant"] == n
    assert gate["decision"] in ("pass", "continue") and gate_status == 200
    assert gate["n"]["control"] + gate["n"]["variant"] == n
    assert lenient_status == 200
    assert strict_status == (200 if gate["decision"] == "pass" else 412)


def _argo_condition(expr: str, result: str) -> bool:
    """Argo's `result == "x"` conditions, the only form the example uses."""
    import re

    m = re.fullmatch(r'result == "(\w+)"', expr)
    assert m, f"unexpected condition {expr!r}"
    return result == m.group(1)


async def test_the_argo_and_flagger_examples_read_the_agents_real_gate(
    fake_upstream, variant, start_agent
):
    """deploy/experiments: the AnalysisTemplate's URL and jsonPath, and the Flagger
    webhook's URL, against a running agent whose experiment is named as in the examples."""
    from pathlib import Path
    from urllib.parse import urlsplit

    import yaml

    root = Path(__file__).parents[2] / "deploy" / "experiments"
    argo = yaml.safe_load((root / "argo-analysistemplate.yaml").read_text())
    flagger = yaml.safe_load((root / "flagger-canary.yaml").read_text())
    assert argo["kind"] == "AnalysisTemplate" and flagger["kind"] == "Canary"
    config = experiment_config(fake_upstream.url, variant.url, {"kind": "split"}, (50, 50))
    config["experiments"][0]["name"] = "candidate-canary"
    ra = await start_agent(fake_upstream.url, **config)
    (metric,) = argo["spec"]["metrics"]
    web_provider = metric["provider"]["web"]
    url = (
        web_provider["url"]
        .replace("{{args.agent}}", ra.url)
        .replace("{{args.experiment}}", "candidate-canary")
    )
    assert web_provider["jsonPath"] == "{$.decision}"
    (hook,) = flagger["spec"]["analysis"]["webhooks"]
    hook_url = urlsplit(hook["url"])
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(_chat(s, ra.url) for _ in range(40)))
        await _stored(ra, 40)
        async with s.get(url) as resp:
            assert resp.status == 200  # Argo takes any other status for a measurement error
            result = (await resp.json())["decision"]
        async with s.post(
            ra.url + hook_url.path + "?" + hook_url.query, json={"name": "llm"}
        ) as resp:
            hook_status, hook_body = resp.status, await resp.json()
    success = _argo_condition(metric["successCondition"], result)
    failure = _argo_condition(metric["failureCondition"], result)
    assert result in ("pass", "fail", "continue") and not (success and failure)
    assert hook_body["decision"] == result and hook_status == (412 if result == "fail" else 200)


async def test_a_failing_variant_fails_the_gate_412_when_enforced_and_the_report_says_worse(
    fake_upstream, start_agent
):
    failing = Variant(status=500)
    runner, failing.url = await start_app(failing.app)
    try:
        ra = await start_agent(
            fake_upstream.url,
            **experiment_config(fake_upstream.url, failing.url, {"kind": "split"}, (50, 50)),
        )
        async with aiohttp.ClientSession() as s:
            got = await asyncio.gather(*(_chat(s, ra.url) for _ in range(160)))
            await _stored(ra, 160)
            gate_url = ra.url + "/inferwatch/experiments/exp1/gate"
            async with s.get(gate_url) as resp:
                plain_status, gate = resp.status, await resp.json()
            async with s.get(gate_url + "?enforce=1") as resp:
                enforced = resp.status
            async with s.get(ra.url + "/inferwatch/experiments/exp1") as resp:
                report = (await resp.json())["report"]
        assert {status for status, _ in got} == {
            200,
            500,
        }  # the client sees each upstream's own answer
        assert gate["decision"] == "fail" and "error rate" in gate["reason"]
        assert plain_status == 200 and enforced == 412
        errors = next(m for m in report["metrics"] if m["metric"] == "error_rate")
        assert errors["verdict"] == "worse" and errors["effect"]["variant"] == 1.0
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("stream", [False, True])
async def test_a_shadows_answer_is_safety_scanned_off_the_loop_and_its_hits_counted_per_variant(
    fake_upstream, start_agent, stream
):
    leaky = Variant(text="write to bob@example.com")
    runner, leaky.url = await start_app(leaky.app)
    try:
        cfg = experiment_config(
            fake_upstream.url, leaky.url, {"kind": "shadow", "shadow": {"fraction": 1.0}}
        )
        ra = await start_agent(fake_upstream.url, **cfg)
        async with aiohttp.ClientSession() as s:
            status, body = await _chat(s, ra.url, stream=stream)
        assert status == 200 and b"example.com" not in body
        records = await ra.records(2)
        copy = next(r for r in records if r.shadow_of is not None)
        hits = {(v.filter, v.direction) for v in copy.safety}
        assert ("pii.email", "output") in hits
        assert not any(
            v.direction == "output" for r in records if r.shadow_of is None for v in r.safety
        )
        page = await _page(ra)
        assert (
            metric_sample(
                page,
                "inferwatch_experiment_safety_hits_total",
                variant="candidate",
                filter="pii.email",
            )
            >= 1
        )
        # The general counter is the clients' requests': the shadow's hit is not in it.
        assert (
            metric_sample(page, "inferwatch_safety_filter_hits_total", filter="pii.email") is None
        )
    finally:
        await runner.cleanup()
