"""Sessions really end, the login throttle holds under a burst, and new passwords follow NIST 800-63B."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlmodel import select

from reviewq.domain.errors import ValidationFailed
from reviewq.domain.passwords import common_passwords, password_problem
from reviewq.models import Role, User
from tests.conftest import PRODUCTION_PASSWORD_HASH
from tests.factories import PASSWORD, make_user
from tests.support.web import csrf_token, login

NEW_PASSWORD = "a-long-and-quiet-river"


@pytest.fixture
def users(database, now):
    with database.session_scope() as s:
        for name, role in (("rita", Role.REVIEWER), ("lena", Role.LEAD)):
            make_user(s, name, role, now=now)


def _logged_in(app, name="rita", password=PASSWORD):
    client = app.test_client()
    assert login(client, name, password).status_code in (302, 303)
    assert client.get("/me").status_code == 200
    return client


def _cookie_copy(app, client):
    """A second browser holding exactly the saved session cookie of `client`."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _user_id(database, name) -> int:
    with database.session_scope(readonly=True) as s:
        return s.exec(select(User.id).where(User.name == name)).one()


def test_a_saved_cookie_is_dead_after_logout(app, users):
    """Save the session cookie, POST /logout, replay the cookie: /me sends it to the login page."""
    client = _logged_in(app)
    saved = _cookie_copy(app, client)
    assert saved.get("/me").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/me")}).status_code == 302
    r = saved.get("/me")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert saved.post("/queue/next", headers={"Accept": "application/json"}).status_code in (400, 401)


def test_logout_ends_every_session_of_that_user_only(app, users):
    """Logging out on one browser ends the user's other browsers too, and nobody else's."""
    first, second, lead = _logged_in(app), _logged_in(app), _logged_in(app, "lena")
    first.post("/logout", data={"csrf_token": csrf_token(first, "/me")})
    assert second.get("/me").status_code == 302
    assert lead.get("/me").status_code == 200


def test_a_password_change_ends_other_sessions_and_keeps_this_one(app, users):
    """Changing one's password logs out every other session; this one stays; only the new password works."""
    here, elsewhere = _logged_in(app), _logged_in(app)
    r = here.post("/me/password", data={"current_password": PASSWORD, "password": NEW_PASSWORD,
                                         "confirm": NEW_PASSWORD, "csrf_token": csrf_token(here, "/me/password")})
    assert r.status_code == 303
    assert here.get("/me").status_code == 200
    assert elsewhere.get("/me").status_code == 302
    assert login(app.test_client(), "rita", PASSWORD).status_code == 401
    assert login(app.test_client(), "rita", NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"current_password": "wrong-one-entirely", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
         "current password is not right"),
        ({"current_password": PASSWORD, "password": "password1", "confirm": "password1"}, "most common"),
        ({"current_password": PASSWORD, "password": "rita-rita-rita", "confirm": "rita-rita-rita"}, "user name"),
        ({"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}, "differ"),
    ],
)
def test_a_refused_password_change_says_why_and_keeps_sessions(app, users, form, message):
    """A wrong current password, a common or name-based new one, or a mismatch: 422 with the reason, nothing ends."""
    here, elsewhere = _logged_in(app), _logged_in(app)
    r = here.post("/me/password", data={**form, "csrf_token": csrf_token(here, "/me/password")})
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert here.get("/me").status_code == 200 and elsewhere.get("/me").status_code == 200


@pytest.mark.parametrize("action", ["deactivate", "role"])
def test_deactivation_and_role_change_end_the_users_sessions(app, users, database, action):
    """A lead deactivating a reviewer, or changing their role, ends every session that reviewer has."""
    rita, lead = _logged_in(app), _logged_in(app, "lena")
    user_id = _user_id(database, "rita")
    path, data = (f"/admin/users/{user_id}/deactivate", {}) if action == "deactivate" else \
        (f"/admin/users/{user_id}/role", {"role": "lead"})
    r = lead.post(path, data={**data, "csrf_token": csrf_token(lead, "/admin/users")})
    assert r.status_code == 303
    assert rita.get("/me").status_code == 302
    assert lead.get("/me").status_code == 200
    if action == "role":
        assert login(app.test_client(), "rita").status_code == 302  # a fresh login, as a lead now


def test_24_simultaneous_wrong_passwords_let_exactly_the_limit_through(app, database, now, monkeypatch):
    """24 wrong passwords for one account from one address at once: exactly 5 are checked, 19 get 429."""
    from reviewq.domain import users as users_domain
    from tests.support.live_server import serve_app_in_thread

    # The production hash: checking a password takes real time, as it did when the race was found.
    monkeypatch.setattr(users_domain, "PASSWORD_HASH_METHOD", PRODUCTION_PASSWORD_HASH)
    with database.session_scope() as s:
        make_user(s, "rita", now=now)
    server = serve_app_in_thread(app)
    try:
        clients = []
        for _ in range(24):
            http = requests.Session()
            page = http.get(f"{server.url}/login", timeout=30).text
            clients.append((http, page.split('name="csrf-token" content="')[1].split('"')[0]))
        start, codes = threading.Barrier(24), []

        def attempt(http, token):
            start.wait(timeout=30)
            r = http.post(f"{server.url}/login", data={"name": "rita", "password": "not-it", "csrf_token": token},
                          allow_redirects=False, timeout=60)
            codes.append(r.status_code)

        threads = [threading.Thread(target=attempt, args=c) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(codes) == [401] * 5 + [429] * 19, codes
    finally:
        server.stop()


def test_the_common_password_list_ships_with_the_package():
    """About 10,000 common passwords ship in the package, the worst ones included."""
    common = common_passwords()
    assert 9_000 <= len(common) <= 10_000
    assert {"123456", "password", "12345678", "qwerty", "iloveyou"} <= common


@pytest.mark.parametrize(
    ("password", "name", "ok"),
    [
        ("12345678", "rita", False),
        ("password", "rita", False),
        ("PassWord", "rita", False),
        ("baseball1", "rita", False),
        ("margaret", "margaret", False),
        ("margaret-1984", "margaret", False),
        ("zzzzzzzzzzzz", "rita", False),
        ("my-reviewq-pass", "rita", False),
        ("short", "rita", False),
        ("x" * 300, "rita", False),
        (NEW_PASSWORD, "rita", True),
        (PASSWORD, "rita", True),
        ("demo-password", "ada", True),
    ],
)
def test_password_rule(password, name, ok):
    """Length 8-256, not common, not holding the user's or the service's name, not one repeated character."""
    assert (password_problem(password, name=name) is None) is ok


def test_creating_a_user_with_a_common_password_is_refused(session, now):
    """create_user refuses 12345678 with a ValidationFailed on the password field."""
    with pytest.raises(ValidationFailed) as caught:
        _make(session, now, "12345678")
    assert caught.value.field == "password"


def _make(session, now, password):
    from reviewq.domain.users import create_user
    from reviewq.models import UserCreate

    return create_user(session=session, data=UserCreate(name="newbie", password=password), now=now, actor="test")


def test_the_admin_page_refuses_a_common_password(app, users):
    """Creating an account on /admin/users with "password" gets 422 and the reason."""
    lead = _logged_in(app, "lena")
    r = lead.post("/admin/users", data={"name": "newbie", "role": "reviewer", "password": "password",
                                        "csrf_token": csrf_token(lead, "/admin/users")})
    assert r.status_code == 422 and "most common passwords" in r.get_data(as_text=True)
