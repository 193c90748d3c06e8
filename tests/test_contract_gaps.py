"""Small contract gaps closed: chunked bodies over the limit, CR/LF callbacks, a tighter OpenAPI document."""

from __future__ import annotations

import http.client
import json
import re
import socket
from datetime import timedelta
from urllib.parse import urlsplit

import jsonschema
import pytest

from reviewq.domain import rate_counters
from reviewq.web.openapi import IDEMPOTENCY_KEY_PATTERN
from tests.conftest import make_test_settings
from tests.support.api import bearer, issue_token
from tests.support.live_server import serve_in_subprocess


def _chunked_post(url: str, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST `body` chunked. The server may answer 413 and close before the whole body is sent (HTTP
    allows it): stop sending then and read its answer, as a real client does."""
    parts = urlsplit(url)
    fields = {**headers, "Host": f"{parts.hostname}:{parts.port}", "Content-Type": "application/json",
              "Transfer-Encoding": "chunked", "Connection": "close"}
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        try:
            sock.sendall(f"POST {path} HTTP/1.1\r\n".encode()
                         + "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n")
            for i in range(0, len(body), 4096):
                chunk = body[i:i + 4096]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered early and closed: the answer is in the socket
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, json.loads(response.read() or b"null")


@pytest.fixture
def served(db_url, database, now):
    """`reviewq serve` (gunicorn) on the test database with a 64 KiB body limit, and a token."""
    token = issue_token(database, now=now)
    server, _ = serve_in_subprocess({"REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_MODE": "test",
                                     "REVIEWQ_API_MAX_BODY_BYTES": str(64 * 1024),
                                     "REVIEWQ_SERVER_WORKERS": "1", "REVIEWQ_SERVER_THREADS": "4"},
                                    args=("--no-scheduler",))
    yield server, token
    server.stop()


def test_chunked_body_over_the_limit_is_413_json_and_under_it_is_accepted(served):
    """Over gunicorn, a chunked body past [api] max_body_bytes gets 413 JSON; a chunked body under it is queued."""
    server, token = served
    big = json.dumps({"trace_id": "t-big", "category": "billing", "input": "x" * 200_000, "output": "y"}).encode()
    status, body = _chunked_post(server.url, "/api/v1/items", big, bearer(token))
    # The front server (reviewq/serving) or, behind another server, the app itself refuses it.
    assert status == 413 and body["error"]["code"] in {"payload_too_large", "request_entity_too_large"}, body
    small = json.dumps({"trace_id": "t-small", "category": "billing", "input": "x" * 20_000, "output": "y"}).encode()
    status, body = _chunked_post(server.url, "/api/v1/items", small, bearer(token))
    assert status == 201 and body["queued"] is True, body


def test_the_app_itself_refuses_a_chunked_body_over_the_limit(db_url, database, now):
    """Behind a plain WSGI server (werkzeug's), the app reads a chunked body only up to the limit: 413 JSON."""
    from reviewq.web import create_app
    from tests.support.live_server import serve_app_in_thread

    app = create_app(make_test_settings(db_url, api={"max_body_bytes": 64 * 1024}))
    server = serve_app_in_thread(app)
    try:
        token = issue_token(database, now=now)
        big = json.dumps({"trace_id": "t-big", "category": "billing", "input": "x" * 200_000, "output": "y"})
        status, body = _chunked_post(server.url, "/api/v1/items", big.encode(), bearer(token))
        assert status == 413 and body["error"]["code"] == "request_entity_too_large", body
    finally:
        server.stop()
        app.extensions["reviewq.db"].dispose()


@pytest.fixture
def token(database, now):
    return issue_token(database, now=now)


@pytest.mark.parametrize("url", ["https://hooks.example.com/a\r\nX-Evil: 1", "https://hooks.example.com/a\nb",
                                 "https://hooks.example.com/a b", "https://hooks.example.com/\ta"])
def test_callback_url_with_cr_lf_or_spaces_is_422(db_url, database, now, url):
    """A callback_url holding CR, LF, a tab or a space can never be delivered: 422 on callback_url."""
    from reviewq.web import create_app

    app = create_app(make_test_settings(db_url, webhooks={"allowed_hosts": ("hooks.example.com",)}))
    try:
        token = issue_token(database, now=now)
        body = {"trace_id": "t-1", "actor": "a@example.com", "intent": "refund",
                "tool_call": {"name": "refund", "args": {}}, "callback_url": url}
        r = app.test_client().post("/api/v1/approvals", json=body, headers=bearer(token))
        assert r.status_code == 422 and r.json["error"]["field"] == "callback_url", r.get_data(as_text=True)
        body["callback_url"] = "https://hooks.example.com/ok?x=1"
        assert app.test_client().post("/api/v1/approvals", json=body, headers=bearer(token)).status_code == 201
    finally:
        app.extensions["reviewq.db"].dispose()


@pytest.mark.parametrize(("key", "ok"), [("refund-A-1001", True), ("a b", True), ("k" * 120, True),
                                         ("caf\u00e9", False), ("   ", False), ("k\x7f", False)])
def test_idempotency_key_schema_matches_the_server(client, token, key, ok):
    """The document's Idempotency-Key pattern accepts exactly the keys the server accepts."""
    assert (re.fullmatch(IDEMPOTENCY_KEY_PATTERN.strip("^$"), key) is not None) is ok
    body = {"trace_id": f"t-{len(key)}", "actor": "a@example.com", "intent": "refund",
            "tool_call": {"name": "refund", "args": {}}}
    headers = {**bearer(token), "Idempotency-Key": key.encode("latin-1").decode("latin-1")}
    r = client.post("/api/v1/approvals", json=body, headers=headers)
    assert (r.status_code == 201) is ok, r.get_data(as_text=True)


def test_openapi_with_a_token_pins_the_outputs_agent(client, token, database, now):
    """With its bearer token, the document says an output's agent can only be that token's; the server agrees."""
    doc = client.get("/api/v1/openapi.json", headers=bearer(token)).json
    agent = doc["components"]["schemas"]["OutputCreate"]["properties"]["agent"]
    assert agent["const"] == token.token.agent
    public = client.get("/api/v1/openapi.json").json["components"]["schemas"]["OutputCreate"]["properties"]["agent"]
    assert "const" not in json.dumps(public) and "token" in json.dumps(public)
    validator = jsonschema.Draft202012Validator({"$ref": "#/components/schemas/OutputCreate", **doc})
    foreign = {"trace_id": "t", "category": "billing", "input": "i", "output": "o", "agent": "someone-else"}
    assert not validator.is_valid(foreign)
    r = client.post("/api/v1/items", json=foreign, headers=bearer(token))
    assert r.status_code == 422 and r.json["error"]["field"] == "agent"
    own = {**foreign, "agent": token.token.agent}
    assert validator.is_valid(own) and client.post("/api/v1/items", json=own, headers=bearer(token)).status_code == 201


def test_old_rate_counters_are_swept(session, now):
    """Counters whose window started before the cut-off are deleted; running ones stay."""
    rate_counters.hit(session=session, key="old", now=now - timedelta(hours=3), window=timedelta(minutes=1))
    rate_counters.hit(session=session, key="new", now=now, window=timedelta(minutes=1))
    assert rate_counters.sweep(session=session, now=now, older_than=timedelta(hours=2)) == 1
    assert rate_counters.peek(session=session, key="new", now=now, window=timedelta(minutes=1)).count == 1
    assert rate_counters.peek(session=session, key="old", now=now, window=timedelta(days=1)) is None
