"""A session cookie and a CSRF token are verified once, then remembered, with the same answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reviewq.models import Role
from reviewq.web import signed_values
from reviewq.web.signed_values import Remembered, RememberingSessionInterface
from tests.factories import make_user
from tests.support.web import csrf_token, login

JSON = {"Accept": "application/json"}


@pytest.fixture
def rita(database, now):
    with database.session_scope() as s:
        make_user(s, "rita", Role.REVIEWER, now=now)
        make_user(s, "ravi", Role.REVIEWER, now=now)


def _logged_in(app, name="rita"):
    client = app.test_client()
    assert login(client, name).status_code in (302, 303)
    return client


class _CountingLoads:
    """Counts full signature checks made through a serializer's `loads`."""

    def __init__(self, monkeypatch, target):
        self.calls = 0
        original = target.loads

        def loads(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(target, "loads", loads)


def test_a_session_cookie_is_checked_once_then_served_from_memory(app, rita, monkeypatch):
    client = _logged_in(app)
    serializer = app.session_interface.get_signing_serializer(app)
    counting = _CountingLoads(monkeypatch, serializer)
    for _ in range(4):
        assert client.get("/me").status_code == 200
    assert counting.calls == 1, "the cookie the login set is checked once, on its first request"
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    assert other.get("/me").status_code == 200


def test_a_tampered_or_foreign_cookie_is_refused_as_before(app, rita):
    client = _logged_in(app)
    assert client.get("/me").status_code == 200
    cookie = client.get_cookie("session").value
    payload, _, signature = cookie.rpartition(".")
    for forged in (payload + "." + signature[::-1], "x" + cookie, cookie + "x"):
        stranger = app.test_client()
        stranger.set_cookie("session", forged)
        assert stranger.get("/me").status_code == 302, forged


def test_a_remembered_cookie_still_expires(app, rita, monkeypatch):
    app.permanent_session_lifetime = timedelta(seconds=60)
    client = _logged_in(app)
    assert client.get("/me").status_code == 200
    real_time = signed_values.time.time
    monkeypatch.setattr(signed_values.time, "time", lambda: real_time() + 3600)
    # The serializer's own clock is the real one: the remembered copy's age alone must refuse it.
    assert client.get("/me").status_code == 302


def test_a_new_secret_key_forgets_what_the_old_one_verified(app, rita):
    client = _logged_in(app)
    assert client.get("/me").status_code == 200
    app.secret_key = "another-secret-key-of-enough-length-0123456789"
    assert client.get("/me").status_code == 302


def test_each_request_gets_its_own_copy_of_a_remembered_session(app, rita):
    client = _logged_in(app)
    interface: RememberingSessionInterface = app.session_interface
    with app.test_request_context(headers={"Cookie": f"session={client.get_cookie('session').value}"}):
        from flask import request

        first = interface.open_session(app, request)
        first["planted"] = "by one request"
        second = interface.open_session(app, request)
    assert "planted" not in second and second["_user_id"] == first["_user_id"]


def test_a_json_call_with_a_remembered_csrf_token_is_checked_against_its_own_session(app, rita, monkeypatch):
    rita_browser, ravi_browser = _logged_in(app), _logged_in(app, "ravi")
    rita_token, ravi_token = csrf_token(rita_browser, "/queue"), csrf_token(ravi_browser, "/queue")
    ok = rita_browser.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": rita_token})
    assert ok.status_code == 200
    # Ravi's token verified (and is remembered) but belongs to Ravi's session: refused for Rita.
    assert ravi_browser.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": ravi_token}).status_code == 200
    crossed = rita_browser.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": ravi_token})
    assert crossed.status_code == 400 and "do not match" in crossed.get_data(as_text=True)
    forged = rita_browser.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": rita_token + "x"})
    assert forged.status_code == 400
    missing = rita_browser.post("/queue/next", json={}, headers=JSON)
    assert missing.status_code == 400

    counting = _CountingLoads(monkeypatch, signed_values.URLSafeTimedSerializer)
    for _ in range(3):
        again = rita_browser.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": rita_token})
        assert again.status_code == 200
    assert counting.calls == 0, "a token verified once is not checked again"


def test_a_form_post_still_finds_its_token_in_the_form(app, rita):
    client = _logged_in(app)
    token = csrf_token(client, "/me")
    assert client.post("/logout", data={"csrf_token": token + "x"}).status_code == 400
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_expiring_csrf_tokens_take_the_full_check(app, rita):
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    client = _logged_in(app)
    token = csrf_token(client, "/queue")
    assert client.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": token}).status_code == 200
    app.config["WTF_CSRF_TIME_LIMIT"] = -1  # every token is now older than the limit
    late = client.post("/queue/next", json={}, headers={**JSON, "X-CSRFToken": token})
    assert late.status_code == 400 and "expired" in late.get_data(as_text=True)


def test_remembered_values_are_bounded_and_least_recent_go_first():
    memory = Remembered(size=3)
    for key in "abc":
        memory.put(key, key.upper())
    assert memory.get("a") == "A"  # now the most recent
    memory.put("d", "D")
    assert len(memory) == 3 and memory.get("b") is None
    assert [memory.get(k) for k in "acd"] == ["A", "C", "D"]
