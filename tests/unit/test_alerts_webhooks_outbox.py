"""The durable outbox on alerts.db: inside the engine's transaction, ordered per group,
sent once, dead letters, and exactly the same notification after a restart."""

from __future__ import annotations

import pytest

from alerts import db
from alerts.model import Alert, Notification
from alerts.webhooks.outbox import Outbox

pytestmark = pytest.mark.unit


def note(i: int, group: str = "g", receiver: str = "ops", at: float = 100.0) -> Notification:
    alert = Alert({"alertname": group, "i": str(i)}, {"summary": "ü"}, at + 0.1, None, "u")
    return Notification(f"n{i}", receiver, group, "firing", {"alertname": group}, (alert,), at)


@pytest.fixture
def outbox(tmp_path):
    conn = db.connect(tmp_path / db.FILENAME)
    yield Outbox(conn)
    conn.close()


def ids(entries) -> list[str]:
    return [e.notification.id for e in entries]


def test_put_is_part_of_the_callers_transaction(outbox):
    outbox.conn.execute("BEGIN IMMEDIATE")
    outbox.put(note(1))
    assert outbox.conn.in_transaction  # put neither committed nor ended it
    outbox.conn.execute("ROLLBACK")
    assert outbox.due(1e9) == []
    outbox.conn.execute("BEGIN IMMEDIATE")
    outbox.put(note(2))
    outbox.conn.execute("COMMIT")
    assert ids(outbox.due(1e9)) == ["n2"]


def test_due_gives_the_oldest_pending_entry_of_each_group(outbox):
    for i, group in enumerate(["a", "b", "a", "b", "c"]):
        outbox.put(note(i, group))
    assert ids(outbox.due(1e9)) == ["n0", "n1", "n4"]
    assert ids(outbox.due(1e9, limit=1)) == ["n0"]
    assert outbox.due(99.0) == []  # created at 100: not due before


def test_a_retried_entry_holds_back_its_group_only(outbox):
    for i, group in enumerate(["a", "a", "b"]):
        outbox.put(note(i, group))
    [first, _] = outbox.due(1e9)
    outbox.mark_failed(first.id, 101.0, "HTTP 500", next_attempt_at=200.0)
    assert ids(outbox.due(150.0)) == ["n2"]  # n1 waits behind n0
    [again, _] = outbox.due(200.0)
    assert (again.notification.id, again.attempts, again.last_error) == ("n0", 1, "HTTP 500")


def test_an_entry_marked_sent_is_never_due_again(outbox):
    outbox.put(note(1))
    outbox.put(note(2))
    [entry] = outbox.due(1e9)
    outbox.mark_sent(entry.id, 101.0)
    outbox.mark_failed(entry.id, 102.0, "late", 0.0)  # ignored: no longer pending
    assert ids(outbox.due(1e9)) == ["n2"]
    assert outbox.pending_by_receiver() == {"ops": 1}


def test_give_up_keeps_a_dead_letter_with_its_reason(outbox):
    outbox.put(note(1, receiver="a"))
    outbox.put(note(2, receiver="b"))
    entry = outbox.due(1e9)[0]
    outbox.give_up(entry.id, 101.0, "refused: HTTP 400: bad")
    assert outbox.dead_letters() == [(entry.id, "a", "refused: HTTP 400: bad")]
    assert outbox.pending_by_receiver() == {"b": 1}


def test_a_second_put_of_one_notification_is_a_no_op(outbox):
    outbox.put(note(1))
    outbox.put(note(1))
    assert outbox.pending_by_receiver() == {"ops": 1}


def test_outbox_survives_a_restart_exactly(tmp_path):
    path = tmp_path / db.FILENAME
    conn = db.connect(path)
    sent = [note(1), note(2, "h", at=0.1 + 0.2)]
    for n in sent:
        Outbox(conn).put(n)
    conn.close()
    again = Outbox(db.connect(path))
    assert [e.notification for e in again.due(1e9)] == sorted(sent, key=lambda n: n.id)


def test_prune_deletes_finished_entries_older_than_the_retention(outbox):
    for i in range(3):
        outbox.put(note(i, group=str(i)))
    a, b, _ = outbox.due(1e9)
    outbox.mark_sent(a.id, 10.0)
    outbox.give_up(b.id, 20.0, "x")
    assert outbox.prune(before=15.0) == 1
    assert outbox.dead_letters() == [(b.id, "ops", "x")]
    assert outbox.pending_by_receiver() == {"ops": 1}
