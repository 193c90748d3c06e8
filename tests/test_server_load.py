"""`reviewq serve` under hostile and heavy load, against a real server process on loopback."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from reviewq.bench.harness import children as harness_children
from reviewq.bench.http_load import ReviewerClient
from reviewq.bench.waiters import WaiterCrowd, wait_until_idle
from reviewq.domain.approvals import request_approval
from reviewq.models import utcnow
from tests.factories import PASSWORD
from tests.support.api import add_reviewer, envelope, issue_token
from tests.support.live_server import serve_in_subprocess

# Timed answers from a server under load (10,000 waiters, stalled sockets, a deadline): each such test
# is marked `serial`, not to share the CPU with another test worker. The oversized-request test
# times nothing and runs in the parallel phase.

THREADS = 4


def _serve(db_url: str, **env: str):
    return serve_in_subprocess({
        "REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_MODE": "test", "REVIEWQ_SERVER_THREADS": str(THREADS),
        **{f"REVIEWQ_{k.upper()}": v for k, v in env.items()},
    })


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _healthz_ms(url: str) -> float:
    t0 = time.perf_counter()
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    return (time.perf_counter() - t0) * 1000


def _read_all(conn: socket.socket, limit: float) -> bytes:
    """What the server sends before closing, within `limit` seconds."""
    conn.settimeout(limit)
    data = b""
    try:
        while chunk := conn.recv(65536):  # bounded by the timeout and the server closing
            data += chunk
    except TimeoutError:
        pass
    return data


@pytest.mark.serial
def test_slow_clients_do_not_hold_up_health_checks(database, db_url):
    """Stalled bodies, a huge Content-Length and stalled headers on threads+8 sockets leave /healthz fast."""
    server, _proc = _serve(db_url, server_body_timeout_s="3", server_header_timeout_s="3")
    port = _port(server.url)
    stalled = []
    try:
        for _ in range(10):  # headers, then one byte of a 1000-byte body
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{")
            stalled.append(conn)
        huge = []
        for _ in range(10):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{")
            huge.append(conn)
        half_headers = []
        for _ in range(THREADS + 8):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            half_headers.append(conn)
        stalled += huge + half_headers
        time.sleep(0.3)
        timings = [_healthz_ms(server.url) for _ in range(5)]
        assert max(timings) < 1000, timings
        # The oversized declaration is refused at once, in the API's JSON error shape.
        answer = _read_all(huge[0], 5)
        assert answer.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in answer
        # A body that stalls gets a 408 after body_timeout_s; stalled headers lose the connection.
        answer = _read_all(stalled[0], 10)
        assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer
        assert _read_all(half_headers[0], 10) == b""
    finally:
        for conn in stalled:
            conn.close()
        server.stop()


def test_long_urls_and_headers_get_json_errors(database, db_url):
    """A URL over 4 KB is a JSON 414 and oversized headers a JSON 431, never an HTML page."""
    server, _proc = _serve(db_url)
    try:
        for size in (4200, 40_000):
            response = requests.get(f"{server.url}/api/v1/items/{'a' * size}", timeout=10)
            assert response.status_code == 414
            assert response.json()["error"]["code"] == "uri_too_long"
        response = requests.get(f"{server.url}/healthz", headers={"X-Big": "b" * 70_000}, timeout=10)
        assert response.status_code == 431
        assert response.json()["error"]["code"] == "headers_too_large"
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    finally:
        server.stop()


@pytest.mark.serial
@pytest.mark.timeout(600)  # opening and parking 10,000 waiters on a shared 2-core machine
def test_ten_thousand_waiters_hold_no_threads(database, db_url, settings, now):
    """10,000 open long-polls leave /healthz and a reviewer fast, and a decision wakes its waiters."""
    approvals = 20
    waiters = 10_000
    issued = issue_token(database, now=now)
    add_reviewer(database, "ada", now=now)
    with database.session_scope() as session:
        ids = [request_approval(session=session, token=issued.token, data=envelope(None, timeout_s=3600),
                                idempotency_key=None, settings=settings, now=utcnow()).item.public_id
               for _ in range(approvals)]
    # One token stands in for many agents here: its rate limit must not be what answers. As many
    # request threads as the bench asks for: more than the database has connections (the front
    # caps them, tests/test_serving_pools.py), where a burst once cost some waiters a 500.
    server, proc = _serve(db_url, api_rate_limit_per_minute="1000000", approvals_max_wait_s="300",
                          server_threads="256")
    crowd = WaiterCrowd(server.url, issued.plaintext, [ids[i % approvals] for i in range(waiters)], wait_s=300)
    try:
        crowd.open(timeout=120)
        # Let the server take every request in and park it (bounded).
        assert wait_until_idle(harness_children(proc.pid) + [proc.pid], timeout=300)
        assert crowd.answered() == 0, (crowd.errors[:3], crowd.answers[:3])
        timings = [_healthz_ms(server.url) for _ in range(10)]
        assert max(timings) < 1000, timings
        reviewer = ReviewerClient(server.url, "ada", PASSWORD)
        t0 = time.perf_counter()
        item = reviewer.next()
        decided = reviewer.decide(item["id"], "approve")
        assert (time.perf_counter() - t0) < 2.0 and decided["decision"]["verdict"] == "approve"
        woken = waiters // approvals
        answers = crowd.wait_for(woken, timeout=30)
        assert len(answers) == woken and not crowd.errors, crowd.errors[:3]
        assert {a.approval_id for a in answers} == {item["id"]}
        assert {(a.status_code, a.body["status"]) for a in answers} == {(200, "approved")}
    finally:
        crowd.close()
        server.stop()
        print(proc.stderr.read().decode()[-5000:])  # shown if the test failed


@pytest.mark.serial
def test_a_waiter_sees_the_deadline_fail_closed(database, db_url, settings, now):
    """A long-poll outliving its approval's deadline answers `expired`/`deny` at the deadline."""
    issued = issue_token(database, now=now)
    # The expiry job would take up to a minute: the waiter must not depend on it.
    server, _proc = _serve(db_url, approvals_expiry_interval_s="60")
    try:
        with database.session_scope() as session:
            created = utcnow()
            public_id = request_approval(session=session, token=issued.token, data=envelope(None, timeout_s=3),
                                         idempotency_key=None, settings=settings, now=created).item.public_id
        response = requests.get(f"{server.url}/api/v1/approvals/{public_id}?wait=30",
                                headers={"Authorization": f"Bearer {issued.plaintext}"}, timeout=40)
        answered_after = (utcnow() - created).total_seconds()
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["outcome"]) == ("expired", "deny")
        assert 3.0 <= answered_after < 5.0, answered_after
    finally:
        server.stop()
