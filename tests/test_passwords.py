"""Password resets: a lead's form on /admin/users and `reviewq user set-password` (one's own: test_sessions.py)."""

from __future__ import annotations

import pytest

from reviewq.db import Database
from reviewq.domain.users import authenticate
from reviewq.models import Role
from tests.factories import make_user
from tests.support.web import csrf_token, login
from tests.test_cli import run, upgraded


@pytest.fixture
def ids(database, now):
    with database.session_scope() as s:
        return {name: make_user(s, name, role, now=now).id
                for name, role in (("rita", Role.REVIEWER), ("lena", Role.LEAD), ("ada", Role.ADMIN))}


def _can_log_in(database, name, password) -> bool:
    with database.session() as s:
        return authenticate(session=s, name=name, password=password) is not None


def test_a_lead_resets_a_reviewers_password_but_not_an_admins(app, database, ids):
    """A lead sets a reviewer's new password from /admin/users; an admin account is refused (403)."""
    client = app.test_client()
    login(client, "lena")
    token = csrf_token(client, "/admin/users")
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{ids["rita"]}/password"' in page
    r = client.post(f"/admin/users/{ids['rita']}/password", data={"csrf_token": token, "password": "x"})
    assert r.status_code == 422 and "not changed" in r.get_data(as_text=True)
    r = client.post(f"/admin/users/{ids['rita']}/password", data={"csrf_token": token, "password": "reset-by-lena"})
    assert r.status_code == 303
    assert _can_log_in(database, "rita", "reset-by-lena")
    r = client.post(f"/admin/users/{ids['ada']}/password", data={"csrf_token": token, "password": "taken-over!"})
    assert r.status_code == 403 and not _can_log_in(database, "ada", "taken-over!")
    reviewer = app.test_client()
    login(reviewer, "rita", "reset-by-lena")
    r = reviewer.post(f"/admin/users/{ids['lena']}/password",
                      data={"csrf_token": csrf_token(reviewer, "/me"), "password": "taken-over!"})
    assert r.status_code in (302, 403) and not _can_log_in(database, "lena", "taken-over!")


def test_cli_set_password(db_url, settings):
    """`reviewq user set-password NAME --password-stdin` changes it; unknown names and short passwords fail."""
    upgraded(settings)
    assert run(["user", "add", "kim", "--password-stdin"], db_url=db_url, stdin="first-password\n").returncode == 0
    ok = run(["user", "set-password", "kim", "--password-stdin"], db_url=db_url, stdin="second-password\n")
    assert ok.returncode == 0 and "password of 'kim' changed" in ok.stdout, ok.stderr
    short = run(["user", "set-password", "kim", "--password-stdin"], db_url=db_url, stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    missing = run(["user", "set-password", "nobody", "--password-stdin"], db_url=db_url, stdin="second-password\n")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    no_tty = run(["user", "set-password", "kim"], db_url=db_url, stdin="")
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    database = Database.from_settings(settings)
    try:
        with database.session() as s:
            assert authenticate(session=s, name="kim", password="second-password") is not None
    finally:
        database.dispose()
