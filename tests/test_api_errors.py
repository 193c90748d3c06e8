"""Every agent-API error is JSON {"error": {code, message, field?}} with the right status, never a 500."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from reviewq.domain.tokens import revoke_token
from reviewq.models import utcnow
from tests.conftest import make_test_settings
from tests.support.api import bearer, issue_token


def approval(**overrides):
    body = {"trace_id": str(uuid.uuid4()), "actor": "a@example.com", "intent": "refund",
            "tool_call": {"name": "refund", "args": {}}}
    body.update(overrides)
    return body


@pytest.fixture
def token(database, now):
    return issue_token(database, now=now)


def error_of(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.json["error"]
    assert set(error) <= {"code", "message", "field"} and error["code"] and error["message"]
    return error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (approval(trace_id=5), "trace_id"),
        (approval(irreversible="yes"), "irreversible"),
        (approval(timeout_s="60"), "timeout_s"),
        (approval(timeout_s=0), "timeout_s"),
        (approval(tool_call={"args": {}}), "tool_call.name"),
        (approval(tool_call="refund"), "tool_call"),
        (approval(constraints=[1]), "constraints"),
        (approval(unexpected=True), "unexpected"),
        ({k: v for k, v in approval().items() if k != "actor"}, "actor"),
        (approval(callback_url="https://evil.example.com/hook"), "callback_url"),
        (approval(callback_url="http://127.0.0.1:8000/x"), "callback_url"),
        (approval(actor="nul\u0000byte"), "actor"),
        (approval(trace_id="x" * 129), "trace_id"),
    ],
)
def test_wrong_approval_fields_are_422_naming_the_field(client, token, body, field):
    """Wrong types, missing or unknown fields and disallowed callbacks are 422 with the field named."""
    error = error_of(client.post("/api/v1/approvals", json=body, headers=bearer(token)), 422)
    assert error["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trace_id": "t", "category": "billing", "input": "x"}, "output"),
        ({"trace_id": "t", "category": 3, "input": "x", "output": "y"}, "category"),
        ({"trace_id": "t", "category": "c", "input": "x", "output": "y", "agent": "someone-else"}, "agent"),
        ({"trace_id": "t", "category": "c", "input": "x", "output": "y", "metadata": "m"}, "metadata"),
        ({"items": []}, "items"),
        ({"items": "all"}, "items"),
        ({"trace_id": "t", "category": "c", "input": {"\ud800": 1}, "output": "y"}, "input.\ud800"),
        ({"trace_id": "t", "category": "c", "input": "x", "output": float("inf")}, "output"),
        ({"trace_id": "t", "category": "c", "input": "x", "output": "y", "metadata": {"a": float("nan")}},
         "metadata.a"),
    ],
)
def test_wrong_item_fields_are_422_naming_the_field(client, token, body, field):
    """A sampled output with a missing, mistyped or foreign field is a 422 naming it."""
    error = error_of(client.post("/api/v1/items", json=body, headers=bearer(token)), 422)
    assert error["field"] == field


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"[1, 2]", b'"text"', b"NaN", b"-Infinity",
                                 b"\xff\xfe\x00", b"[" * 100_000])
def test_malformed_bodies_are_400(client, token, raw):
    """Bodies that are not a JSON object (or not JSON at all) are a 400 on both endpoints."""
    for path in ("/api/v1/items", "/api/v1/approvals"):
        response = client.post(path, data=raw, headers=bearer(token) | {"Content-Type": "application/json"})
        error_of(response, 400)


def test_huge_body_is_413_json(client, token):
    """A body over [api] max_body_bytes is a JSON 413."""
    big = b'{"trace_id": "' + b"x" * (1024 * 1024) + b'"}'
    error = error_of(client.post("/api/v1/items", data=big, headers=bearer(token)), 413)
    assert error["code"] == "request_entity_too_large"


def test_missing_wrong_and_revoked_tokens_are_401(client, token, database, now):
    """No token, a made-up token and a revoked token all get 401 with WWW-Authenticate."""
    body = approval()
    error_of(client.post("/api/v1/approvals", json=body), 401)
    error_of(client.post("/api/v1/approvals", json=body, headers=bearer("rq_made-up")), 401)
    error_of(client.post("/api/v1/approvals", json=body, headers={"Authorization": "Basic abc"}), 401)
    with database.session_scope() as s:
        revoke_token(session=s, token_id=token.token.id, now=now, actor="system:test")
    response = client.post("/api/v1/approvals", json=body, headers=bearer(token))
    assert error_of(response, 401)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_scopes_are_enforced(client, database, now):
    """A token without approvals:write cannot ask for approvals (403); items:write can still submit."""
    items_only = issue_token(database, "reporter", scopes=["items:write"], now=now)
    error = error_of(client.post("/api/v1/approvals", json=approval(), headers=bearer(items_only)), 403)
    assert error["code"] == "insufficient_scope"
    error_of(client.get("/api/v1/approvals/itm_x", headers=bearer(items_only)), 403)
    ok = client.post("/api/v1/items", json={"trace_id": "t", "category": "billing", "input": 1, "output": 2},
                     headers=bearer(items_only))
    assert ok.status_code == 201


def test_rate_limit_answers_429_with_retry_after(db_url, database, now):
    """Over [api] rate_limit_per_minute a token gets 429 with Retry-After; other tokens are unaffected."""
    from reviewq.web import create_app

    app = create_app(make_test_settings(db_url, api={"rate_limit_per_minute": 3}))
    client = app.test_client()
    token = issue_token(database, now=now)
    other = issue_token(database, "other", now=now)
    codes = [client.get("/api/v1/approvals/itm_missing", headers=bearer(token)).status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    limited = client.get("/api/v1/approvals/itm_missing", headers=bearer(token))
    assert error_of(limited, 429)["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert client.get("/api/v1/approvals/itm_missing", headers=bearer(other)).status_code == 404
    app.extensions["reviewq.db"].dispose()


def test_refused_and_accepted_writes_each_count_once(db_url, database, now):
    """A write refused after authentication (400, 422) and one accepted (its count committed with
    the batch on SQLite) each count once against the limit; the next is a 429."""
    from reviewq.web import create_app

    app = create_app(make_test_settings(db_url, api={"rate_limit_per_minute": 3}))
    client = app.test_client()
    token = issue_token(database, now=now)
    try:
        post = lambda **kw: client.post("/api/v1/items", headers=bearer(token), **kw).status_code  # noqa: E731
        batch = {"items": [{"trace_id": "t-1", "category": "billing", "input": "q", "output": "a"}]}
        codes = [post(data="{not json", content_type="application/json"), post(json={"items": []}),
                 post(json=batch), post(json=batch)]
        assert codes == [400, 422, 200, 429], codes
    finally:
        app.extensions["reviewq.db"].dispose()


def test_rate_limit_is_shared_by_every_worker_process(db_url, database, now):
    """Two app instances on one database (two workers) together let only rate_limit_per_minute through."""
    from reviewq.web import create_app

    apps = [create_app(make_test_settings(db_url, api={"rate_limit_per_minute": 4})) for _ in range(2)]
    token = issue_token(database, now=now)
    try:
        codes = []
        for i in range(8):
            client = apps[i % 2].test_client()
            method = client.get if i % 4 < 2 else client.post  # reads and writes count alike
            codes.append(method("/api/v1/approvals/itm_missing" if i % 4 < 2 else "/api/v1/items",
                                headers=bearer(token), json={}).status_code)
        assert codes[:4].count(429) == 0 and codes[4:] == [429] * 4, codes
    finally:
        for app in apps:
            app.extensions["reviewq.db"].dispose()


def test_reads_counted_together_are_each_counted(db_url, database, now):
    """Concurrent reads share count transactions (reviewq.group_commit) yet the limit is exact:
    of 12 at once with a limit of 8, exactly 8 pass and the counter holds 12."""
    from reviewq.domain import rate_counters
    from reviewq.domain.tokens import RATE_WINDOW
    from reviewq.web import create_app

    app = create_app(make_test_settings(db_url, api={"rate_limit_per_minute": 8}))
    token = issue_token(database, now=now)
    start = threading.Barrier(12)

    def read(_):
        client = app.test_client()
        start.wait(10)
        return client.get("/api/v1/approvals/itm_missing", headers=bearer(token)).status_code

    try:
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(read, range(12)))
        assert sorted(codes) == [404] * 8 + [429] * 4, codes
        with database.session(readonly=True) as session:
            count = rate_counters.peek(session=session, key=f"api:token:{token.token.id}", now=utcnow(),
                                       window=RATE_WINDOW)
        assert count is not None and count.count == 12
    finally:
        app.extensions["reviewq.db"].dispose()


def test_uses_recorded_together_get_the_answers_they_would_get_alone(session, now):
    """record_uses, one batch of interleaved tokens: each use its own place in its token's count."""
    from reviewq.domain.tokens import TokenUse, record_use, record_uses

    uses = [TokenUse(token_id, now, now, 2) for token_id in (7, 7, 8, 7, 8, 8)]
    waits = record_uses(session=session, uses=uses)
    assert [w > 0 for w in waits] == [False, False, False, True, False, True]
    assert all(w == pytest.approx(60.0) for w in waits if w > 0)
    assert record_use(session=session, token_id=8, last_used_at=now, now=now + timedelta(seconds=61),
                      per_minute=2) == 0.0  # a new window


def test_rate_window_restarts_after_a_minute(session, now):
    """The per-token count starts again once its one-minute window has passed."""
    from reviewq.domain.tokens import record_use

    use = {"session": session, "token_id": 7, "last_used_at": now, "per_minute": 2}
    assert [record_use(now=now, **use) for _ in range(2)] == [0.0, 0.0]
    assert record_use(now=now + timedelta(seconds=20), **use) == pytest.approx(40.0)
    assert record_use(now=now + timedelta(seconds=61), **use) == 0.0


def test_bad_wait_and_unknown_ids(client, token):
    """?wait out of range is a 422 on wait; an unknown approval is a 404; unknown routes are JSON 404s."""
    assert error_of(client.get("/api/v1/approvals/itm_x?wait=61", headers=bearer(token)), 422)["field"] == "wait"
    assert error_of(client.get("/api/v1/approvals/itm_x?wait=abc", headers=bearer(token)), 422)["field"] == "wait"
    assert error_of(client.get("/api/v1/approvals/itm_x", headers=bearer(token)), 404)["code"] == "not_found"
    error_of(client.get("/api/v1/nowhere", headers=bearer(token)), 404)
    error_of(client.delete("/api/v1/approvals", headers=bearer(token)), 405)


def test_idempotency_key_is_checked(client, token):
    """An over-long Idempotency-Key is a 422 naming the header."""
    response = client.post("/api/v1/approvals", json=approval(), headers=bearer(token) | {"Idempotency-Key": "k" * 121})
    assert error_of(response, 422)["field"] == "Idempotency-Key"


def test_last_used_is_recorded(client, token, database, now):
    """A request stamps the token's last_used_at (at most once a minute)."""
    from reviewq.models import ApiToken

    client.get("/api/v1/approvals/itm_x", headers=bearer(token))
    with database.session() as s:
        used = s.get(ApiToken, token.token.id).last_used_at
    assert used is not None and used > now - timedelta(days=3650)
