"""Logins, cookies, throttling, CSRF, security headers and landing pages, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import url_for
from sqlmodel import select

from reviewq.domain import login_throttle
from reviewq.domain.claims import claim_next
from reviewq.models import AuditEvent, Item, ItemStatus, Role, User, utcnow
from reviewq.web.clock import CLOCK
from tests.conftest import PRODUCTION_PASSWORD_HASH
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


def _production_app(settings, **server):
    from reviewq.web import create_app

    return create_app(settings.replace(server={"mode": "production", "secret_key": "s" * 40, **server}))


def test_production_cookies_are_secure_by_default(settings, database, users):
    """In production mode with no cookie setting, a login over https sets a Secure session cookie."""
    app = _production_app(settings)
    try:
        client = app.test_client()
        https = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}
        token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/login", **https).text).group(1)
        r = client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token}, **https)
        assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]
    finally:
        app.extensions["reviewq.db"].dispose()


def test_production_pages_over_plain_http_get_a_clear_error(settings, database, users):
    """Production with Secure cookies refuses pages over http with a 403 naming the fix; API and /healthz answer."""
    app = _production_app(settings)
    try:
        client = app.test_client()
        r = client.get("/login")
        assert r.status_code == 403 and "secure_cookies" in r.get_data(as_text=True)
        assert client.get("/login", headers={"Accept": "application/json"}).json["error"]["code"] == "https_required"
        posted = client.post("/login", data={"name": "rita", "password": PASSWORD})
        assert posted.status_code == 403 and "secure_cookies" in posted.get_data(as_text=True)
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/openapi.json").status_code == 200
    finally:
        app.extensions["reviewq.db"].dispose()


def test_secure_cookies_opt_out_serves_plain_http(settings, database, users):
    """server.secure_cookies = false is the explicit opt-out: plain http works and cookies are not Secure."""
    app = _production_app(settings, secure_cookies=False)
    try:
        r = login(app.test_client(), "rita")
        assert r.status_code == 302 and "Secure" not in r.headers["Set-Cookie"]
    finally:
        app.extensions["reviewq.db"].dispose()


def test_trusted_proxy_gives_the_client_scheme_and_address(settings, database, users):
    """With server.proxy_count = 1, X-Forwarded-Proto https passes the https check and X-Forwarded-For is the source."""
    app = _production_app(settings, proxy_count=1)
    try:
        client = app.test_client()
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7",
                     "Referer": "https://localhost/login"}
        token = csrf_token_via(client, forwarded)
        for _ in range(5):
            wrong = {"name": "rita", "password": "wrong", "csrf_token": token}
            r = client.post("/login", data=wrong, headers=forwarded)
            assert r.status_code == 401
        assert client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token},
                           headers=forwarded).status_code == 429
        other = {**forwarded, "X-Forwarded-For": "198.51.100.8"}
        r = client.post("/login", data={"name": "rita", "password": PASSWORD, "csrf_token": token}, headers=other)
        assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]
    finally:
        app.extensions["reviewq.db"].dispose()


def csrf_token_via(client, headers) -> str:
    html = client.get("/login", headers=headers).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def test_passwords_are_stored_as_production_scrypt_hashes(database, now, monkeypatch):
    """Outside the tests' cheap fixture hash, a password is stored only as an OWASP-strength scrypt hash."""
    from reviewq.domain import users as users_domain

    monkeypatch.setattr(users_domain, "PASSWORD_HASH_METHOD", PRODUCTION_PASSWORD_HASH)
    with database.session_scope() as s:
        make_user(s, "sam", now=now)
    with database.session_scope() as s:
        user = s.exec(select(User).where(User.name == "sam")).one()
        assert user.password_hash.startswith(f"{PRODUCTION_PASSWORD_HASH}$") and PASSWORD not in user.password_hash
        assert users_domain.authenticate(session=s, name="sam", password=PASSWORD) is not None
        assert users_domain.authenticate(session=s, name="sam", password=PASSWORD + "x") is None
    # One of OWASP's equal-strength scrypt settings (N, r, p), at most 8 MiB (128 r N bytes) a hash.
    method, n, r, p = PRODUCTION_PASSWORD_HASH.split(":")
    assert method == "scrypt" and (int(n), int(r), int(p)) in {
        (2**17, 8, 1), (2**16, 8, 2), (2**15, 8, 3), (2**14, 8, 5), (2**13, 8, 10)}
    assert 128 * int(r) * int(n) <= 8 * 2**20


def test_hashes_made_with_the_earlier_setting_still_verify(database, now):
    """Accounts hashed with scrypt 2^14/8/5 (before 2^13/8/10) log in as before: a hash carries its method."""
    from werkzeug.security import generate_password_hash

    from reviewq.domain import users as users_domain

    with database.session_scope() as s:
        user = make_user(s, "old-timer", now=now)
        user.password_hash = generate_password_hash(PASSWORD, method="scrypt:16384:8:5")
    with database.session_scope() as s:
        assert users_domain.authenticate(session=s, name="old-timer", password=PASSWORD) is not None
        assert users_domain.authenticate(session=s, name="old-timer", password=PASSWORD + "x") is None


def test_leads_land_on_the_dashboard_or_admin_index(client, users, app):
    """Leads and admins go to /dashboard when it exists, else /admin; reviewers go to /queue."""
    with app.test_request_context():
        expected = url_for("dashboard.index")
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


def test_five_failures_throttle_the_account_from_that_address_only(client, users, database):
    """5 failed logins for one account from one address: the 6th from there gets 429; the owner elsewhere logs in."""
    for _ in range(5):
        assert login(client, "rita", "wrong", REMOTE_ADDR="10.0.0.1").status_code == 401
    r = login(client, "rita", REMOTE_ADDR="10.0.0.1")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    assert "Too many failed logins" in r.get_data(as_text=True)
    assert login(client, "rita", REMOTE_ADDR="10.0.0.99").status_code == 302  # the owner, from their desk
    with database.session_scope() as s:
        failed = s.exec(select(AuditEvent).where(AuditEvent.action == login_throttle.LOGIN_FAILED)).all()
        assert len(failed) == 5 and {e.object_id for e in failed} == {"rita"}


def test_failures_from_one_address_across_accounts_block_that_address(settings, database, users):
    """Past the per-source limit of failures from one IP, any login from it gets 429; other IPs do not."""
    from reviewq.web import create_app

    app = create_app(settings.replace(security={"max_failed_logins_per_source_per_minute": 5}))
    try:
        client = app.test_client()
        for name in ("a1", "a2", "a3", "a4", "rita"):
            assert login(client, name, "wrong", REMOTE_ADDR="192.0.2.7").status_code == 401
        assert login(client, "lena", REMOTE_ADDR="192.0.2.7").status_code == 429
        assert login(client, "lena", REMOTE_ADDR="192.0.2.8").status_code == 302
    finally:
        app.extensions["reviewq.db"].dispose()


def test_a_successful_login_gives_the_attempt_back(client, users):
    """Right passwords do not use up the address's allowance: 30 logins in a minute from one address all pass."""
    for _ in range(30):
        assert login(client, "rita").status_code == 302
        assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 302


def test_account_lock_from_many_addresses_until_a_lead_clears_it(settings, database, users):
    """Failures from many addresses lock the account for all, right password or not, until a lead unlocks it."""
    from reviewq.web import create_app

    app = create_app(settings.replace(security={"account_lock_failures": 6, "account_lock_minutes": 30}))
    try:
        client = app.test_client()
        for i in range(6):
            assert login(client, "rita", "wrong", REMOTE_ADDR=f"203.0.113.{i}").status_code == 401
        r = login(client, "rita", REMOTE_ADDR="10.9.9.9")
        assert r.status_code == 429 and "locked" in r.get_data(as_text=True)
        assert int(r.headers["Retry-After"]) > 25 * 60
        lead = app.test_client()
        assert login(lead, "lena").status_code == 302
        page = lead.get("/admin/users").get_data(as_text=True)
        assert 'data-locked="rita"' in page
        r = lead.post("/admin/users/unlock", data={"name": "rita", "csrf_token": csrf_token(lead, "/admin/users")})
        assert r.status_code == 303
        assert 'data-locked="rita"' not in lead.get("/admin/users").get_data(as_text=True)
        assert login(client, "rita", REMOTE_ADDR="10.9.9.9").status_code == 302
        with database.session_scope() as s:
            actions = {e.action for e in s.exec(select(AuditEvent))}
        assert {"user.login_locked", "user.login_unlocked"} <= actions
    finally:
        app.extensions["reviewq.db"].dispose()


def test_a_reviewer_cannot_clear_login_locks(client, users):
    """POST /admin/users/unlock is for leads: a reviewer gets 403."""
    login(client, "rita")
    r = client.post("/admin/users/unlock", data={"name": "lena", "csrf_token": csrf_token(client, "/queue")})
    assert r.status_code == 403


def test_throttle_lifts_after_a_minute(app, client, users):
    """Failures older than a minute no longer count."""
    start = utcnow()
    app.extensions[CLOCK] = lambda: start  # the app's clock (web/clock.py)
    for _ in range(5):
        login(client, "rita", "wrong")
    assert login(client, "rita").status_code == 429
    app.extensions[CLOCK] = lambda: start + timedelta(seconds=61)
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


def test_a_login_checks_the_password_without_holding_the_write_lock(client, users, writer_meanwhile, monkeypatch):
    """While a login's password is hashed, another writer gets through at once: on the request's own
    session the hash ran inside BEGIN IMMEDIATE, and every reviewer's decision waited behind it."""
    from reviewq.domain import users as users_domain

    wrap, wrote = writer_meanwhile
    monkeypatch.setattr(users_domain, "check_password_hash", wrap(users_domain.check_password_hash))
    assert login(client, "rita").status_code == 302
    assert login(client, "lena", "not-the-password").status_code == 401
    assert wrote == [True, True]


def test_password_hashes_run_a_few_at_a_time(monkeypatch):
    """Logins to many accounts at once take 8 MiB each while hashing: at most HASHES_AT_ONCE run."""
    import threading
    import time

    from reviewq.domain import users as users_domain

    running, most, lock = [0], [0], threading.Lock()

    def slow_check(stored, password):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(users_domain, "check_password_hash", slow_check)
    threads = [threading.Thread(target=users_domain._verify, args=("stored", "pw")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert most[0] == users_domain.HASHES_AT_ONCE
