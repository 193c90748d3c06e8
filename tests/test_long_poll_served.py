"""Long-polls parked on the serving event loop (front + h11 protocol, in this process): a hang-up
ends the wait, a decision wakes the rest with the approval's answer."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import weakref
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
import uvicorn

from reviewq.domain.approvals import expire_due
from reviewq.domain.wakeups import hub
from reviewq.models import Verdict, utcnow
from reviewq.serving import front as front_module
from reviewq.serving.front import ReviewqFront
from reviewq.serving.parking import park, take_over
from reviewq.serving.protocol import CONNECTION, GuardedH11Protocol, LeanEvent
from tests.support.api import add_reviewer, ask, bearer, decide_next, envelope, issue_token
from tests.support.in_thread import in_thread
from tests.support.live_server import free_port


@contextmanager
def served(app, settings, front=None):
    """The app behind ReviewqFront and GuardedH11Protocol on a loop in a thread (as a worker serves it)."""
    port = free_port()
    config = uvicorn.Config(app=front or ReviewqFront(app, settings), http=GuardedH11Protocol, interface="asgi3",
                            lifespan="off", loop="asyncio", log_config=None, access_log=False,
                            host="127.0.0.1", port=port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _until(condition, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _park(url: str, token, approval_id: str, extra: str = "") -> socket.socket:
    port = int(url.rsplit(":", 1)[1])
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(f"GET /api/v1/approvals/{approval_id}?wait=60 HTTP/1.1\r\nHost: t\r\n{extra}"
                 f"Authorization: {bearer(token)['Authorization']}\r\n\r\n".encode())
    return conn


def test_a_client_hanging_up_ends_its_wait(app, database, settings, now):
    """The waiter of a client that closes its connection is unregistered at once; the server goes on."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    assert hub.waiting() == 0
    with served(app, settings) as url:
        # One hangs up while its view may still be running, one once it is surely parked on the loop.
        for pause in (0.0, 0.5):
            conn = _park(url, token, approval_id)
            assert _until(lambda: hub.waiting() == 1)
            time.sleep(pause)
            conn.close()
            assert _until(lambda: hub.waiting() == 0, 5.0)
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


def test_a_decision_wakes_every_parked_waiter_with_the_answer(app, database, settings, now):
    """Three waiters on one approval are answered once it is decided, each with its JSON as a GET shows it."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        conns = [_park(url, token, approval_id) for _ in range(3)]
        try:
            assert _until(lambda: hub.waiting() == 3)
            decide_next(database, add_reviewer(database, "rita", now=now), Verdict.APPROVE, settings=settings,
                        now=utcnow())
            current = requests.get(f"{url}/api/v1/approvals/{approval_id}", headers=bearer(token), timeout=5)
            for conn in conns:
                head, _, body = _read_response(conn)
                assert head.startswith(b"HTTP/1.1 200")
                assert b"content-type: application/json" in head.lower()
                assert json.loads(body) == current.json() and current.json()["status"] == "approved"
            assert hub.waiting() == 0
        finally:
            for conn in conns:
                conn.close()


def _settle(how: str, *, url, database, settings, token, approval_id, now) -> None:
    """Settle a pending approval one of the ways an approval settles."""
    if how in ("approved", "denied"):
        verdict = Verdict.APPROVE if how == "approved" else Verdict.REJECT
        decide_next(database, add_reviewer(database, f"rita-{how}", now=now), verdict, settings=settings, now=utcnow())
    elif how == "second approval":
        for name in ("rita", "sam"):
            decide_next(database, add_reviewer(database, name, now=now), Verdict.APPROVE, settings=settings,
                        now=utcnow())
    elif how == "cancelled":
        answer = requests.post(f"{url}/api/v1/approvals/{approval_id}/cancel", headers=bearer(token), timeout=10)
        assert answer.status_code == 200, answer.text
    else:  # the expiry job, once the deadline has passed
        with database.session_scope() as session:
            assert [i.public_id for i in expire_due(session=session, now=utcnow() + timedelta(hours=2),
                                                    settings=settings)] == [approval_id]


@pytest.mark.parametrize("how", ["approved", "denied", "second approval", "cancelled", "expired"])
def test_a_settling_commit_hands_its_answer_to_the_parked_waiter(app, database, settings, now, how):
    """The waiter answers with the view the settling transaction built, byte for byte what a GET
    then shows, and reads nothing itself: no re-read is queued on the loop after the wake-up (on
    PostgreSQL the commit's own NOTIFY, heard by this process's listener, must not cause one)."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600,
                      irreversible=how == "second approval")
    front = ReviewqFront(app, settings)
    reads = []
    shared = front.shared_rechecks.run
    front.shared_rechecks.run = lambda key, check: reads.append(key) or shared(key, check)
    with served(app, settings, front) as url:
        conn = _park(url, token, approval_id)
        try:
            assert _until(lambda: hub.waiting() == 1)
            time.sleep(0.2)  # parked on the loop, not still in its view
            _settle(how, url=url, database=database, settings=settings, token=token, approval_id=approval_id,
                    now=now)
            head, _, body = _read_response(conn)
            time.sleep(0.3)  # a late second wake-up (a NOTIFY) would queue its read by now
            current = requests.get(f"{url}/api/v1/approvals/{approval_id}", headers=bearer(token), timeout=5)
        finally:
            conn.close()
    assert head.startswith(b"HTTP/1.1 200")
    assert body == current.content and current.json()["status"] == how.split()[-1].replace("approval", "approved")
    assert reads == []


def test_a_parked_waiter_leaves_uvicorns_books_and_its_connection_still_behaves(app, database, settings, now,
                                                                                 monkeypatch):
    """A parked long-poll keeps its socket and poll, not uvicorn's connection (memory: one of 10,000);
    yet "connection: close" still closes after the answer, and a kept-alive connection serves its
    next request, also one the client sent while it waited."""
    parked = []
    monkeypatch.setattr(front_module, "park", lambda poll, recheck: (parked.append(poll), park(poll, recheck)))
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        closing = _park(url, token, approval_id, extra="Connection: close\r\n")
        kept_alive = _park(url, token, approval_id)
        pipelined = _park(url, token, approval_id)
        try:
            assert _until(lambda: len(parked) == 3)
            assert sorted(p.keep_alive for p in parked) == [False, True, True]  # the first asked to close
            state = parked[0].origin[2]
            assert all(p in state.connections for p in parked)
            assert _until(lambda: not any(isinstance(c, GuardedH11Protocol) for c in state.connections)), \
                "uvicorn still holds the parked connections"
            pipelined.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            decide_next(database, add_reviewer(database, "rita", now=now), Verdict.APPROVE, settings=settings,
                        now=utcnow())
            for conn in (closing, kept_alive, pipelined):
                head, _, body = _read_response(conn)
                assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["status"] == "approved"
                assert b"\r\nserver: " in head.lower() and b"\r\ndate: " in head.lower()
            closing.settimeout(5)
            assert closing.recv(1) == b"", "the connection that asked to close stayed open"
            kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            for conn in (kept_alive, pipelined):
                head, _, body = _read_response(conn)
                assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["status"] == "ok"
            assert _until(lambda: not any(p in state.connections for p in parked))
        finally:
            for conn in (closing, kept_alive, pipelined):
                conn.close()


def test_where_the_socket_cannot_be_taken_over_the_wait_keeps_a_slim_scope(app, database, settings, now,
                                                                           monkeypatch):
    """The fallback (TLS, another ASGI server): the waiter stays in its request's task with its scope
    slimmed to what answering reads, and the connection still behaves."""
    parked_scopes = []
    slim = front_module._slim

    def spying_slim(scope, kept):
        slim(scope, kept)
        parked_scopes.append(scope)

    monkeypatch.setattr(front_module, "_slim", spying_slim)
    monkeypatch.setattr(front_module, "take_over", lambda connection: None)
    # As in `reviewq serve`: nothing handles uvicorn's access log (pytest's capture handler on the
    # root logger would count), so uvicorn reads neither the client nor the path when answering.
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "propagate", False)
    monkeypatch.setattr(access, "handlers", [])
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        closing = _park(url, token, approval_id, extra="Connection: close\r\n")
        kept_alive = _park(url, token, approval_id)
        try:
            assert _until(lambda: len(parked_scopes) == 2)
            for scope in parked_scopes:
                assert set(scope) <= {"method", "headers", CONNECTION} and scope["method"] == "GET"
                assert all(h == (b"connection", b"close") for h in scope["headers"])
            decide_next(database, add_reviewer(database, "rita", now=now), Verdict.APPROVE, settings=settings,
                        now=utcnow())
            for conn in (closing, kept_alive):
                head, _, body = _read_response(conn)
                assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["status"] == "approved"
            closing.settimeout(5)
            assert closing.recv(1) == b"", "the connection that asked to close stayed open"
            kept_alive.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            head, _, _ = _read_response(kept_alive)
            assert head.startswith(b"HTTP/1.1 200")
        finally:
            closing.close()
            kept_alive.close()


def test_a_graceful_shutdown_answers_parked_waiters_with_the_state_then(app, database, settings, now):
    """Stopping the server answers each parked waiter at once (still pending), and closes its connection."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        conns = [_park(url, token, approval_id) for _ in range(2)]
        assert _until(lambda: hub.waiting() == 2)
    try:
        for conn in conns:
            _assert_answered_pending_then_closed(conn)
        assert hub.waiting() == 0
    finally:
        for conn in conns:
            conn.close()


def test_a_long_poll_parked_after_the_server_began_stopping_answers_at_once(app, database, settings, now,
                                                                           monkeypatch):
    """uvicorn tells only the connections it holds to stop: a long-poll whose view was still running
    then parks afterwards, and must answer at once (still pending) and close, not wait its minute."""

    def taken_over_after_shutdown(connection):
        connection.shutdown()  # as uvicorn's graceful shutdown does while the view runs
        return take_over(connection)

    monkeypatch.setattr(front_module, "take_over", taken_over_after_shutdown)
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        conn = _park(url, token, approval_id)
        try:
            _assert_answered_pending_then_closed(conn)
            assert _until(lambda: hub.waiting() == 0)
        finally:
            conn.close()


def test_a_parked_waiter_that_runs_out_answers_with_the_approval_as_it_is_then(app, database, settings, now):
    """The parked waiter kept only the deadline; at the end of its wait it reads the approval again
    and answers with its whole JSON, as a GET shows it."""
    token = issue_token(database, now=now)
    approval_id = ask(database, token, settings, None, utcnow(), timeout_s=3600)
    with served(app, settings) as url:
        port = int(url.rsplit(":", 1)[1])
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            conn.sendall(f"GET /api/v1/approvals/{approval_id}?wait=1 HTTP/1.1\r\nHost: t\r\n"
                         f"Authorization: {bearer(token)['Authorization']}\r\n\r\n".encode())
            head, _, body = _read_response(conn)
        finally:
            conn.close()
        current = requests.get(f"{url}/api/v1/approvals/{approval_id}", headers=bearer(token), timeout=5).json()
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body) == current and current["status"] == "pending"


def test_a_request_body_still_arrives_through_the_lean_connection(app, database, settings, now):
    """A POST's body reaches the app (uvicorn signals it on the connection's LeanEvent)."""
    token = issue_token(database, now=now)
    body = envelope(None, timeout_s=600).model_dump(mode="json")
    with served(app, settings) as url:
        response = requests.post(f"{url}/api/v1/approvals", json=body, headers=bearer(token), timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"


def test_lean_event_sets_clears_and_wakes_every_waiter():
    """LeanEvent keeps asyncio.Event's meaning: wait returns at once when set, else when set() is called."""

    async def main():
        event = LeanEvent()
        assert not event.is_set()
        waiting = [asyncio.create_task(event.wait()) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in waiting)
        event.set()
        assert await asyncio.gather(*waiting) == [True, True]
        assert event.is_set() and await asyncio.wait_for(event.wait(), 1)
        event.clear()
        late = asyncio.create_task(event.wait())
        await asyncio.sleep(0.01)
        assert not late.done()
        late.cancel()
        await asyncio.gather(late, return_exceptions=True)
        event.set()  # nobody left waiting: harmless
        return event._waiters

    assert in_thread(asyncio.run, main()) is None


def _assert_answered_pending_then_closed(conn: socket.socket) -> None:
    """Answered at once with the approval still pending, "connection: close", then closed."""
    conn.settimeout(5)
    head, _, body = _read_response(conn)
    assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
    assert json.loads(body)["status"] == "pending"
    assert conn.recv(1) == b""


# What a recv brought beyond the response read (the next one, pipelined), per socket.
_unread: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def _read_response(conn: socket.socket) -> tuple[bytes, bytes, bytes]:
    data = _unread.pop(conn, b"")
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "closed before answering"
        data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    body, _unread[conn] = body[:length], body[length:]
    return head, sep, body
