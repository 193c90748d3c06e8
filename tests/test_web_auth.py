"""Logins, cookies, throttling, CSRF, security headers and landing pages, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.domain.queue import claim_next
from reviewq.models import AuditEvent, Item, ItemStatus, Role, User, utcnow
from reviewq.web import auth
from tests.factories import PASSWORD, add_outputs, make_user
from tests.support.web import csrf_token, login


@pytest.fixture
def users(database, now):
    with database.session_scope() as s:
        for name, role in (("rita", Role.REVIEWER), ("lena", Role.LEAD), ("ada", Role.ADMIN)):
            make_user(s, name, role, now=now)


def test_login_sets_a_hardened_session_cookie_and_lands_on_the_queue(client, users):
    """A reviewer's login redirects to /queue with an HttpOnly, SameSite=Lax session cookie."""
    r = login(client, "rita")
    assert r.status_code == 302 and r.headers["Location"] == "/queue"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/queue").status_code == 200


def test_cookie_is_secure_when_served_over_https(settings, database, users):
    """With [server] secure_cookies on, the session cookie carries Secure."""
    from reviewq.web import create_app

    app = create_app(settings.replace(server={"secure_cookies": True}))
    try:
        client = app.test_client()
        r = login(client, "rita", **{"wsgi.url_scheme": "https"})
        assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]
    finally:
        app.extensions["reviewq.db"].dispose()


def test_passwords_are_stored_as_production_scrypt_hashes(database, now, monkeypatch):
    """Outside the tests' cheap fixture hash, a password is stored only as an OWASP-strength scrypt hash."""
    from reviewq.domain import users as users_domain

    monkeypatch.setattr(users_domain, "PASSWORD_HASH_METHOD", "scrypt:16384:8:5")
    with database.session_scope() as s:
        make_user(s, "sam", now=now)
    with database.session_scope() as s:
        user = s.exec(select(User).where(User.name == "sam")).one()
        assert user.password_hash.startswith("scrypt:16384:8:5$") and PASSWORD not in user.password_hash
        assert users_domain.authenticate(session=s, name="sam", password=PASSWORD) is not None
        assert users_domain.authenticate(session=s, name="sam", password=PASSWORD + "x") is None


def test_leads_land_on_the_dashboard_or_admin_index(client, users, app):
    """Leads and admins go to /dashboard when it exists, else /admin; reviewers go to /queue."""
    with app.test_request_context():
        expected = "/dashboard" if auth.endpoint_for_path("/dashboard") else "/admin"
    assert login(client, "lena").headers["Location"] == expected
    assert client.get("/").headers["Location"] == expected


def test_wrong_password_and_inactive_account_are_refused(client, users, database):
    """A wrong password gets 401 and no session; a deactivated account cannot log in."""
    r = login(client, "rita", "not-the-password")
    assert r.status_code == 401 and "Wrong name or password" in r.get_data(as_text=True)
    assert client.get("/queue").status_code == 302
    with database.session_scope() as s:
        s.exec(select(User).where(User.name == "lena")).one().active = False
    assert login(client, "lena").status_code == 401


def test_next_parameter_cannot_redirect_off_site(client, users):
    """?next= is followed only for local paths."""
    token = csrf_token(client)
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token, "next": bad})
        assert r.headers["Location"] == "/queue"
        client.post("/logout", data={"csrf_token": csrf_token(client, "/queue")})
        token = csrf_token(client)
    r = client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token, "next": "/me"})
    assert r.headers["Location"] == "/me"


def test_post_without_csrf_token_is_refused(client, users):
    """A login or logout form posted without its CSRF token gets 400."""
    assert client.post("/login", data={"name": "rita", "password": PASSWORD}).status_code == 400
    login(client, "rita")
    assert client.post("/logout").status_code == 400
    assert client.get("/queue").status_code == 200  # still logged in


def test_five_failures_throttle_the_account_even_with_the_right_password(client, users, database):
    """After 5 failed logins for one account within a minute, the 6th attempt gets 429 with Retry-After."""
    for i in range(5):
        assert login(client, "rita", "wrong", REMOTE_ADDR=f"10.0.0.{i}").status_code == 401
    r = login(client, "rita", REMOTE_ADDR="10.0.0.99")
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    assert "Too many failed logins" in r.get_data(as_text=True)
    assert login(client, "lena", REMOTE_ADDR="10.0.0.99").status_code == 302  # other accounts unaffected
    with database.session_scope() as s:
        failed = s.exec(select(AuditEvent).where(AuditEvent.action == auth.LOGIN_FAILED)).all()
        assert len(failed) == 5 and {e.object_id for e in failed} == {"rita"}


def test_five_failures_throttle_the_address_across_accounts(client, users):
    """5 failures from one IP against different names block that IP, not other IPs."""
    for name in ("a1", "a2", "a3", "a4", "rita"):
        assert login(client, name, "wrong", REMOTE_ADDR="192.0.2.7").status_code == 401
    assert login(client, "lena", REMOTE_ADDR="192.0.2.7").status_code == 429
    assert login(client, "lena", REMOTE_ADDR="192.0.2.8").status_code == 302


def test_throttle_lifts_after_a_minute(client, users, monkeypatch):
    """Failures older than a minute no longer count."""
    start = utcnow()
    monkeypatch.setattr(auth, "utcnow", lambda: start)
    for _ in range(5):
        login(client, "rita", "wrong")
    assert login(client, "rita").status_code == 429
    monkeypatch.setattr(auth, "utcnow", lambda: start + timedelta(seconds=61))
    assert login(client, "rita").status_code == 302


def test_throttle_limit_comes_from_config(settings, database, users):
    """[security] max_failed_logins_per_minute sets the limit."""
    from reviewq.web import create_app

    app = create_app(settings.replace(security={"max_failed_logins_per_minute": 2}))
    try:
        client = app.test_client()
        login(client, "rita", "wrong")
        login(client, "rita", "wrong")
        assert login(client, "rita").status_code == 429
    finally:
        app.extensions["reviewq.db"].dispose()


def test_security_headers_on_every_page(client, users):
    """CSP allows scripts from self only; framing and sniffing are refused."""
    login(client, "rita")
    for path in ("/login", "/queue", "/me", "/admin"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_carry_no_inline_script_or_handlers(client, users):
    """No page the reviewer sees has an inline <script> body or on*= handler (CSP would block them)."""
    import re

    login(client, "ada")
    for path in ("/queue", "/me", "/admin", "/admin/users"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), path


def test_logout_releases_held_items(client, users, database, now):
    """Logging out gives the reviewer's leased items back to the queue."""
    with database.session_scope() as s:
        add_outputs(s, 1, now=now)
        rita = s.exec(select(User).where(User.name == "rita")).one()
        claim_next(session=s, reviewer_id=rita.id, now=utcnow(), lease_seconds=600)
    login(client, "rita")
    r = client.post("/logout", data={"csrf_token": csrf_token(client, "/queue")})
    assert r.status_code == 302
    with database.session_scope() as s:
        assert s.exec(select(Item)).one().status == ItemStatus.QUEUED
