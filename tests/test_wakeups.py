"""Long-poll wake-ups: a decision wakes its waiters at once, in-process and across server processes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import event
from sqlalchemy.orm import Session

from reviewq.domain import wakeups
from reviewq.domain.approvals import request_approval
from reviewq.models import Verdict, utcnow
from reviewq.models.approvals import ApprovalCreate
from tests.support.api import add_reviewer, bearer, decide_next, issue_token
from tests.support.live_server import serve_in_subprocess


def envelope():
    return ApprovalCreate(trace_id=str(uuid.uuid4()), actor="a@example.com", intent="refund",
                          tool_call={"name": "refund", "args": {}}, timeout_s=600)


def ask(database, token, settings, now) -> str:
    with database.session_scope() as s:
        return request_approval(session=s, token=token.token, data=envelope(), idempotency_key=None,
                                settings=settings, now=now).item.public_id


def test_the_hub_wakes_one_or_many_waiters_of_an_id_and_forgets_them():
    """An id's only waiter and each of several are woken by its notify, and only while registered."""
    hub = wakeups.WaiterHub()
    alone, first, second = threading.Event(), threading.Event(), threading.Event()
    hub.register("one", alone)
    hub.register("two", first)
    hub.register("two", second)
    assert hub.waiting() == 3
    assert hub.notify("one") == 1 and alone.is_set() and not first.is_set()
    assert hub.notify("two") == 2 and first.is_set() and second.is_set()
    first.clear(), second.clear()
    hub.unregister("two", first)
    assert hub.notify("two") == 1 and second.is_set() and not first.is_set()
    hub.unregister("two", second)
    hub.unregister("one", alone)
    hub.unregister("one", alone)  # twice: harmless
    assert hub.waiting() == 0 and hub.notify("one") == 0 and hub.notify("two") == 0


def test_only_a_committed_settlement_wakes_waiters(database):
    """announce_settled wakes waiters after commit, never after a rollback."""
    ev = wakeups.hub.register("itm_commit")
    try:
        with database.session() as s:
            s.connection()
            wakeups.announce_settled(session=s, public_id="itm_commit")
            s.rollback()
        assert not ev.is_set()
        with database.session() as s:
            s.connection()
            wakeups.announce_settled(session=s, public_id="itm_commit")
            s.commit()
        assert ev.is_set()
    finally:
        wakeups.hub.unregister("itm_commit", ev)


def test_a_released_savepoint_is_not_a_commit(database):
    """A savepoint released inside the settling transaction (the queue page plants a copy under one)
    wakes nobody: waiters woken then would re-read the approval still pending and sleep on. The
    transaction's own commit wakes them, and so does it for a delivery queued before the savepoint."""
    ev = wakeups.hub.register("itm_nested")
    outbox_runs: list[int] = []

    def outbox_kicked():
        outbox_runs.append(1)

    wakeups.delivery_committed.subscribe(outbox_kicked)
    try:
        with database.session() as s:
            s.connection()
            wakeups.announce_settled(session=s, public_id="itm_nested")
            wakeups.announce_delivery(session=s)
            with s.begin_nested():
                s.connection()
            assert not ev.is_set() and outbox_runs == []
            s.commit()
        assert ev.is_set() and outbox_runs == [1]
    finally:
        wakeups.hub.unregister("itm_nested", ev)
        wakeups.delivery_committed.unsubscribe(outbox_kicked)


def test_a_decision_before_the_wait_is_not_missed(live_server, database, settings, now):
    """An approval decided before the long-poll starts is returned at once, settled."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, now)
    decide_next(database, add_reviewer(database, "rita", now=now), Verdict.APPROVE, settings=settings, now=now)
    response = requests.get(f"{live_server.url}/api/v1/approvals/{approval_id}?wait=60", headers=bearer(token),
                            timeout=5)
    assert response.json()["status"] == "approved"


def test_waiter_is_woken_by_the_commit_not_the_deadline(database, settings, now, backend, monkeypatch):
    """A waiter that checked 'pending' is woken by the deciding commit (on PostgreSQL: by NOTIFY alone)."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, now)
    reviewer = add_reviewer(database, "rita", now=now)
    checked = threading.Event()
    calls = []

    def check():
        with database.session(readonly=True) as s:
            from reviewq.domain.approvals import agent_item

            status = agent_item(session=s, token=token.token, public_id=approval_id).status.value
        calls.append(status)
        checked.set()
        return status != "queued" and status != "leased", status

    result = {}
    local_wake = backend == "postgres"
    if local_wake:  # prove the cross-process path: drop the in-process after_commit wake-up
        event.remove(Session, "after_commit", wakeups._wake_after_commit)
        # and decide as another process would: its NOTIFY carries another sender (the listener
        # skips this process's own, whose waiters the commit hook wakes).
        deciding, own_tag = threading.current_thread(), wakeups.process_tag
        monkeypatch.setattr(wakeups, "process_tag",
                            lambda: "another-process" if threading.current_thread() is deciding else own_tag())
    try:
        waiter = threading.Thread(target=lambda: result.setdefault(
            "status", wakeups.wait_until(approval_id, check=check, timeout=60, database_url=settings.database.url)))
        started = time.monotonic()
        waiter.start()
        assert checked.wait(10)
        decide_next(database, reviewer, Verdict.APPROVE, settings=settings, now=now)
        waiter.join(30)
    finally:
        if local_wake:
            event.listen(Session, "after_commit", wakeups._wake_after_commit)
    assert result["status"] == "decided"
    assert calls[0] == "queued" and len(calls) >= 2
    assert time.monotonic() - started < 30  # woken, not timed out at 60 s


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_wake_up_across_two_server_processes(database, settings, db_url, now):
    """Two `reviewq serve` processes on PostgreSQL: the decision goes through one, the waiter on the other wakes."""
    env = {"REVIEWQ_SERVER_MODE": "test", "REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_THREADS": "8"}
    first, first_proc = serve_in_subprocess(env)
    try:
        second, second_proc = serve_in_subprocess(env)
        try:
            token = issue_token(database, now=now)
            created = requests.post(f"{first.url}/api/v1/approvals", headers=bearer(token), timeout=10, json={
                "trace_id": "t-1", "actor": "a@example.com", "intent": "refund",
                "tool_call": {"name": "refund", "args": {}}}).json()
            approval_id = created["id"]
            warm = requests.get(f"{second.url}/api/v1/approvals/{approval_id}?wait=0.2", headers=bearer(token),
                                timeout=10)
            assert warm.json()["status"] == "pending"  # the second process is now listening
            result = {}

            def wait():
                started = time.monotonic()
                r = requests.get(f"{second.url}/api/v1/approvals/{approval_id}?wait=60", headers=bearer(token),
                                 timeout=90)
                result.update(r.json(), elapsed=time.monotonic() - started)

            waiter = threading.Thread(target=wait)
            waiter.start()
            reviewer = add_reviewer(database, "rita", now=utcnow())
            decide_next(database, reviewer, Verdict.APPROVE, settings=settings, now=utcnow())
            waiter.join(90)
            assert result["status"] == "approved"
            assert result["elapsed"] < 30  # woken by the commit, long before wait=60 ran out
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_settled_notify_from_this_process_is_skipped_by_its_listener(monkeypatch):
    """The commit hook woke this process's waiters (with the answer); its own NOTIFY must not wake
    them again. Another process's, or an untagged one, wakes them."""
    hub = wakeups.hub
    waiter = hub.register("apr_tagged")
    try:
        wakeups.wake_from_elsewhere(f"apr_tagged {wakeups.process_tag()}")
        assert not waiter.is_set()
        wakeups.wake_from_elsewhere("apr_tagged someone-else")
        assert waiter.is_set()
        waiter.clear()
        wakeups.wake_from_elsewhere("apr_tagged")
        assert waiter.is_set()
    finally:
        hub.unregister("apr_tagged", waiter)
    # A forked worker is another process: a new tag.
    mine = wakeups.process_tag()
    monkeypatch.setattr(wakeups, "_tag", wakeups._tag)  # this process's own, back after the test
    monkeypatch.setattr(wakeups.os, "getpid", lambda: -1)
    assert wakeups.process_tag() != mine


def test_an_answer_is_handed_over_only_from_outside_a_savepoint(database):
    """A settlement announced inside a SAVEPOINT that rolls back, while its transaction commits,
    must not reach a waiter as an answer (it never happened); it still wakes it, to re-read."""
    import asyncio

    from tests.support.in_thread import in_thread

    def settle(in_savepoint: bool) -> None:
        with database.session_scope() as session:
            if in_savepoint:
                nested = session.begin_nested()
                wakeups.announce_settled(session=session, public_id="apr_nested", answer="approved")
                nested.rollback()
            else:
                wakeups.announce_settled(session=session, public_id="apr_nested", answer="approved")

    async def main(in_savepoint: bool):
        loop = asyncio.get_running_loop()
        waiter = wakeups.hub.register("apr_nested", wakeups.LoopEvent(loop))
        try:
            await loop.run_in_executor(None, settle, in_savepoint)
            await asyncio.wait_for(waiter.wait(5), 5)
            return waiter.take_handed()
        finally:
            wakeups.hub.unregister("apr_nested", waiter)

    assert in_thread(asyncio.run, main(False)) == "approved"
    assert in_thread(asyncio.run, main(True)) is None


def test_only_an_event_loop_waiter_makes_the_settlement_build_an_answer():
    """Threads waiting (the plain WSGI path) always re-read: no answer is built for them."""
    import asyncio

    hub = wakeups.WaiterHub()
    hub.register("apr_thread", threading.Event())
    assert not hub.waited_on_a_loop("apr_thread") and not hub.waited_on_a_loop("apr_nobody")
    loop = asyncio.new_event_loop()
    try:
        hub.register("apr_thread", wakeups.LoopEvent(loop))
        assert hub.waited_on_a_loop("apr_thread")
    finally:
        loop.close()
