"""Delivery from the outbox to local aiohttp receivers that time out, fail, redirect,
refuse, or are down for a while; the clock is passed in, so backoff needs no sleeping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import closing

import pytest
from aiohttp import web

from alerts import db
from alerts.config import AlertsConfig
from alerts.model import Alert, Notification
from alerts.webhooks import signing
from alerts.webhooks.outbox import Outbox
from alerts.webhooks.sender import Sender
from tests.conftest import free_port

pytestmark = pytest.mark.integration

DELIVERY = {"backoff_base_s": 10, "backoff_factor": 2, "backoff_max_s": 40, "backoff_jitter": 0.5}


class Clock:
    """A wall clock the test moves."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Receiver:
    """A local receiver answering with `answer(request_number)`; keeps what it got."""

    def __init__(self, answer: Callable[[int], web.StreamResponse | None] = lambda _: None):
        self.answer = answer
        self.got: list[tuple[dict, bytes]] = []
        self.arrived = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/hook", self.hook)

    async def hook(self, request: web.Request) -> web.StreamResponse:
        self.got.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return self.answer(len(self.got)) or web.Response(text="ok")

    def ids(self) -> list[str]:
        return [json.loads(body)["id"] for _, body in self.got]


@pytest.fixture
async def serve():
    runners = []

    async def _serve(receiver: Receiver, port: int = 0) -> str:
        runner = web.AppRunner(receiver.app, handler_cancellation=True, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    yield _serve
    for runner in runners:
        await runner.cleanup()


def note(i: int, group: str = "g", at: float = 1000.0) -> Notification:
    alert = Alert({"alertname": group, "i": str(i)}, {}, at)
    return Notification(f"n{i}", "ops", group, "firing", {"alertname": group}, (alert,), at)


def setup(tmp_path, url: str, notes: list[Notification], clock: Clock, **hook) -> Sender:
    conn = db.connect(tmp_path / db.FILENAME)
    outbox = Outbox(conn)
    for n in notes:
        outbox.put(n)
    conn.close()
    config = AlertsConfig(
        webhooks=[{"name": "ops", "url": url, "format": "json", **hook}], delivery=DELIVERY
    )
    return Sender(config, tmp_path / db.FILENAME, clock=clock)


def dead_letters(tmp_path) -> list:
    return Outbox(db.connect(tmp_path / db.FILENAME)).dead_letters()


def count(sender: Sender, result: str) -> float:
    [family, _] = sender.families()
    return {s.labels["result"]: s.value for s in family.samples if s.name.endswith("_total")}[
        result
    ]


async def test_500_then_200_is_retried_after_the_backoff_and_sent_once(tmp_path, serve):
    receiver = Receiver(lambda n: web.Response(status=500, text="busy") if n == 1 else None)
    clock = Clock()
    sender = setup(tmp_path, await serve(receiver), [note(1)], clock)
    try:
        assert await sender.run_once() == 1
        assert await sender.run_once() == 0  # not due again before its backoff
        assert sender.pending == {"ops": 1}
        clock.t += 10  # base 10 s less at most half of it
        assert await sender.run_once() == 1
        assert await sender.run_once() == 0
        assert (count(sender, "failed"), count(sender, "sent"), sender.pending) == (
            1,
            1,
            {"ops": 0},
        )
    finally:
        await sender.close()
    assert receiver.ids() == ["n1", "n1"]
    assert receiver.got[0][0]["Idempotency-Key"] == "n1"


async def test_a_receiver_that_times_out_is_counted_and_retried(tmp_path, serve):
    stall = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await stall.wait()  # never set: the sender's time limit ends it
        return web.Response()

    receiver = Receiver()
    receiver.app.router.add_post("/slow", slow)
    url = (await serve(receiver)).replace("/hook", "/slow")
    sender = setup(tmp_path, url, [note(1)], Clock(), timeout_s=0.2)
    try:
        await sender.run_once()
        assert count(sender, "timeout") == 1 and sender.pending == {"ops": 1}
    finally:
        await sender.close()
    assert dead_letters(tmp_path) == []


async def test_a_redirect_is_not_followed_and_is_retried(tmp_path, serve):
    elsewhere = Receiver()
    target = await serve(elsewhere)
    receiver = Receiver(lambda _: web.Response(status=302, headers={"Location": target}))
    sender = setup(tmp_path, await serve(receiver), [note(1)], Clock())
    try:
        await sender.run_once()
        assert count(sender, "redirect") == 1 and sender.pending == {"ops": 1}
        with closing(db.connect(tmp_path / db.FILENAME)) as conn:
            [entry] = Outbox(conn).due(1e9)
        assert f"redirect to {target} not followed" in entry.last_error
    finally:
        await sender.close()
    assert elsewhere.got == []


async def test_a_400_is_refused_and_kept_as_a_dead_letter_not_retried(tmp_path, serve):
    receiver = Receiver(lambda _: web.Response(status=400, text="no such channel"))
    clock = Clock()
    sender = setup(tmp_path, await serve(receiver), [note(1)], clock)
    try:
        await sender.run_once()
        clock.t += 3600
        assert await sender.run_once() == 0
        assert count(sender, "refused") == 1 and sender.pending == {"ops": 0}
    finally:
        await sender.close()
    [(_, name, reason)] = dead_letters(tmp_path)
    assert (name, reason) == ("ops", "refused: HTTP 400: no such channel")
    assert len(receiver.got) == 1


async def test_after_max_attempts_a_notification_is_dropped_to_the_dead_letters(tmp_path, serve):
    receiver = Receiver(lambda _: web.Response(status=503))
    clock = Clock()
    sender = setup(tmp_path, await serve(receiver), [note(1)], clock)
    sender.delivery = sender.delivery.model_copy(update={"max_attempts": 3})
    try:
        for _ in range(5):
            await sender.run_once()
            clock.t += 40
        assert (count(sender, "failed"), count(sender, "dropped")) == (3, 1)
    finally:
        await sender.close()
    [(_, _, reason)] = dead_letters(tmp_path)
    assert reason.startswith("3 attempts, last: HTTP 503")


async def test_a_receiver_down_for_a_while_gets_everything_in_order_once(tmp_path, serve):
    port = free_port()  # nothing listens there yet: connection refused
    notes = [note(i, group="ab"[i % 2], at=1000 + i) for i in range(8)]
    clock = Clock(1010)
    sender = setup(tmp_path, f"http://127.0.0.1:{port}/hook", notes, clock)
    receiver = Receiver()
    try:
        for _ in range(6):  # minutes of failures, each round one attempt per due group
            await sender.run_once()
            clock.t += 40
        assert count(sender, "failed") >= 6 and count(sender, "sent") == 0
        await serve(receiver, port)
        while sender.pending != {"ops": 0}:
            await sender.run_once()
            clock.t += 40
    finally:
        await sender.close()
    got = receiver.ids()
    assert sorted(got) == sorted(n.id for n in notes)  # every one, once
    for group in "ab":
        in_group = [i for i in got if int(i[1:]) % 2 == "ab".index(group)]
        assert in_group == sorted(in_group, key=lambda i: int(i[1:]))
    restarted = setup(tmp_path, f"http://127.0.0.1:{port}/hook", [], clock)
    try:
        assert await restarted.run_once() == 0  # acknowledged entries are never sent again
    finally:
        await restarted.close()
    assert len(receiver.got) == len(notes)


async def test_a_crash_between_send_and_mark_sent_sends_again_at_least_once(
    tmp_path, serve, monkeypatch
):
    receiver = Receiver()
    url = await serve(receiver)
    crashing = setup(tmp_path, url, [note(1)], Clock())

    def crash(*_):
        raise Crash("crash before the outbox recorded the answer")

    monkeypatch.setattr(Outbox, "mark_sent", crash)
    with pytest.raises(Crash):
        await crashing.run_once()
    await crashing.close()
    monkeypatch.undo()
    restarted = setup(tmp_path, url, [], Clock())
    try:
        assert await restarted.run_once() == 1
    finally:
        await restarted.close()
    assert receiver.ids() == ["n1", "n1"]  # the documented window: one duplicate
    assert receiver.got[0][0]["Idempotency-Key"] == receiver.got[1][0]["Idempotency-Key"]


class Crash(Exception):
    """The process dying at that point (its connection closes, nothing more is written)."""


async def test_the_running_sender_delivers_a_woken_put_signed(tmp_path, serve):
    receiver = Receiver()
    sender = setup(tmp_path, await serve(receiver), [], Clock(), secret="k")
    task = asyncio.create_task(sender.run())
    try:
        conn = db.connect(tmp_path / db.FILENAME)
        conn.execute("BEGIN IMMEDIATE")
        Outbox(conn).put(note(7))
        conn.execute("COMMIT")
        sender.wake()
        async with asyncio.timeout(10):
            await receiver.arrived.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    [(headers, body)] = receiver.got
    assert signing.verify(headers[signing.HEADER], body, "k", now=1000.0)
    assert json.loads(body)["id"] == "n7"


async def test_a_later_notification_never_overtakes_one_waiting_for_a_retry(tmp_path, serve):
    receiver = Receiver(lambda n: web.Response(status=500) if n == 1 else None)
    notes = [note(i, group="ab"[i % 2]) for i in range(4)]
    clock = Clock()
    sender = setup(tmp_path, await serve(receiver), notes, clock)
    try:
        await sender.run_once()
        while sender.pending != {"ops": 0}:
            clock.t += 5
            await sender.run_once()  # less than one backoff: other groups go on meanwhile
    finally:
        await sender.close()
    got = receiver.ids()
    assert got[0] == "n0" and got.count("n0") == 2  # failed once, then sent
    assert got.index("n2") > len(got) - 1 - got[::-1].index("n0")  # n2 after n0's retry
    assert got.index("n1") < got.index("n2")  # group b was not held back
