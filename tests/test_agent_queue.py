"""Agents' requests past [server] max_queued_requests are held as their socket and bytes, then run
in arrival order as the queue makes room; people's requests never wait behind them."""

from __future__ import annotations

import threading

import requests

from reviewq.serving.agent_queue import HeldRequest, replayed
from reviewq.serving.front import ReviewqFront
from tests.support.api import bearer, issue_token
from tests.support.waiting import until
from tests.test_long_poll_served import served


def _item(trace: str) -> dict:
    return {"trace_id": trace, "category": "billing", "input": f"question {trace}", "output": f"answer {trace}"}


def test_held_requests_run_in_order_once_there_is_room_and_people_pass_meanwhile(app, database, settings, now,
                                                                                  monkeypatch):
    token = issue_token(database, now=now)
    front = ReviewqFront(app, settings.model_copy(update={
        "server": settings.server.model_copy(update={"max_queued_requests": 2})}))
    gate, started, order = threading.Event(), [], []
    run_app = ReviewqFront._run_app

    def blocking_run_app(self, scope, body, loop):
        if scope["path"] == "/api/v1/items":
            started.append(scope)
            order.append(body)
            assert gate.wait(30)
        return run_app(self, scope, body, loop)

    monkeypatch.setattr(ReviewqFront, "_run_app", blocking_run_app)
    answers: dict[str, requests.Response] = {}

    def post(trace: str, chunked: bool = False) -> None:
        import json

        body = json.dumps(_item(trace)).encode()
        data = iter([body[:10], body[10:]]) if chunked else body  # a generator is sent chunked
        answers[trace] = requests.post(f"{url}/api/v1/items", data=data, timeout=30,
                                       headers={**bearer(token), "Content-Type": "application/json"})

    with served(app, settings, front) as url:
        threads = []
        for i in range(5):
            threads.append(threading.Thread(target=post, args=(f"t{i}", i == 3)))
            threads[-1].start()
            # One at a time, so arrival order is known: the first two run, the rest are held.
            until(lambda arrived=i + 1: len(started) + len(front.agent_queue.held) == arrived)
        assert len(started) == 2 and len(front.agent_queue.held) == 3
        held = list(front.agent_queue.held)
        assert all(isinstance(h, HeldRequest) for h in held)
        state = held[0].origin[2]
        assert all(h in state.connections for h in held), "held requests count among the server's connections"
        # A person's request is not held behind the agents'.
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        gate.set()
        for thread in threads:
            thread.join(30)
    assert sorted(answers) == [f"t{i}" for i in range(5)]
    assert {trace: r.status_code for trace, r in answers.items()} == {f"t{i}": 201 for i in range(5)}
    # Each got its own item, and the held ones ran in the order they arrived.
    import json

    assert [json.loads(b)["trace_id"] for b in order] == [f"t{i}" for i in range(5)]
    assert not front.agent_queue.held and front.agent_queue.queued == 0


def test_a_replayed_request_is_the_request_with_its_body_and_length():
    scope = {"method": "POST", "raw_path": b"/api/v1/items", "path": "/api/v1/items", "query_string": b"a=1",
             "http_version": "1.1",
             "headers": [(b"host", b"t"), (b"transfer-encoding", b"chunked"), (b"expect", b"100-continue"),
                         (b"authorization", b"Bearer x")]}
    assert replayed(scope, b'{"x":1}') == (b"POST /api/v1/items?a=1 HTTP/1.1\r\nhost: t\r\nauthorization: Bearer x\r\n"
                                           b"content-length: 7\r\n\r\n{\"x\":1}")
    get = {**scope, "method": "GET", "query_string": b"", "headers": [(b"host", b"t")]}
    assert replayed(get, b"") == b"GET /api/v1/items HTTP/1.1\r\nhost: t\r\n\r\n"


def test_a_held_request_told_of_shutdown_answers_503_retry_and_leaves_the_books():
    import json
    import socket
    from types import SimpleNamespace

    ours, theirs = socket.socketpair()
    state = SimpleNamespace(connections=set())
    held = HeldRequest(ours, b"GET /api/v1/approvals/a HTTP/1.1\r\n\r\n", (None, None, state, None))
    state.connections.add(held)
    held.shutdown()
    theirs.settimeout(5)
    answer = b""
    while chunk := theirs.recv(4096):
        answer += chunk
    theirs.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(b": ", 1) for line in lines[1:])
    assert headers[b"connection"] == b"close" and headers[b"retry-after"] == b"1"
    assert int(headers[b"content-length"]) == len(body)
    assert json.loads(body)["error"]["code"] == "shutting_down"
    assert held not in state.connections and ours.fileno() == -1
