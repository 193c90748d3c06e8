"""The admin pages: the index, and user management with its permission rules."""

from __future__ import annotations

import pytest
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.user_admin import may_manage
from reviewq.models import AuditEvent, Item, ItemStatus, Role, User, utcnow
from tests.factories import add_outputs, make_user
from tests.support.web import csrf_token, login


@pytest.fixture
def ids(database, now):
    with database.session_scope() as s:
        return {name: make_user(s, name, role, now=now).id
                for name, role in (("rita", Role.REVIEWER), ("lena", Role.LEAD), ("ada", Role.ADMIN))}


def _as(app, name):
    client = app.test_client()
    login(client, name)
    return client, csrf_token(client, "/admin/users")


def _user(database, name):
    with database.session_scope() as s:
        return s.exec(select(User).where(User.name == name)).one()


def test_permission_rules():
    """Leads manage reviewers and leads; only admins touch admin accounts or grant admin; reviewers nothing."""
    assert may_manage(Role.LEAD, Role.REVIEWER, Role.LEAD)
    assert not may_manage(Role.LEAD, Role.ADMIN)
    assert not may_manage(Role.LEAD, Role.REVIEWER, Role.ADMIN)
    assert may_manage(Role.ADMIN, Role.ADMIN, Role.REVIEWER)
    assert not may_manage(Role.REVIEWER, Role.REVIEWER)


def test_index_links_to_the_admin_tools(app, ids):
    """/admin links users and, where they exist, the dashboard, webhooks and injections pages."""
    client, _ = _as(app, "lena")
    html = client.get("/admin").get_data(as_text=True)
    assert 'href="/admin/users"' in html
    rules = {r.rule for r in app.url_map.iter_rules()}
    for path in ("/dashboard", "/admin/webhooks", "/admin/injections"):
        assert (f'href="{path}"' in html) == (path in rules)


def test_lead_creates_a_reviewer_who_can_then_log_in(app, ids, database):
    """A lead adds a user through the CSRF-protected form; the account works and is audited."""
    client, token = _as(app, "lena")
    r = client.post("/admin/users", data={"csrf_token": token, "name": "newbie", "password": "longenough1",
                                          "role": "reviewer"})
    assert r.status_code == 303
    assert "Created reviewer newbie" in client.get("/admin/users").get_data(as_text=True)
    assert login(app.test_client(), "newbie", "longenough1").status_code == 302
    with database.session_scope() as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "user.created")
                       .order_by(AuditEvent.id.desc())).first()
        assert event.actor == "user:lena" and event.details["name"] == "newbie"


BAD_NEW_USERS = [
    ({"name": "x", "password": "short", "role": "reviewer"}, 422, "at least 8"),
    ({"name": "rita", "password": "longenough1", "role": "reviewer"}, 409, "already exists"),
    ({"name": "has space", "password": "longenough1", "role": "reviewer"}, 422, "without spaces"),
    ({"name": "", "password": "longenough1", "role": "reviewer"}, 422, "1-64 characters"),
    ({"name": "y", "password": "longenough1", "role": "king"}, 422, "Pick a role"),
]


def test_bad_new_users_are_refused_with_a_message(app, ids, database):
    """Invalid new accounts re-show the form with the reason, and nothing is created."""
    client, token = _as(app, "ada")
    for form, status, text in BAD_NEW_USERS:
        r = client.post("/admin/users", data={"csrf_token": token, **form})
        assert r.status_code == status and text in r.get_data(as_text=True), form
    with database.session_scope() as s:
        assert len(s.exec(select(User)).all()) == 3


def test_lead_cannot_create_or_touch_admins(app, ids, database):
    """A lead gets 403 creating an admin, promoting to admin, or deactivating an admin."""
    client, token = _as(app, "lena")
    r = client.post("/admin/users", data={"csrf_token": token, "name": "boss", "password": "longenough1",
                                          "role": "admin"})
    assert r.status_code == 403
    promote = client.post(f"/admin/users/{ids['rita']}/role", data={"csrf_token": token, "role": "admin"})
    assert promote.status_code == 403
    assert client.post(f"/admin/users/{ids['ada']}/deactivate", data={"csrf_token": token}).status_code == 403
    assert _user(database, "ada").active and _user(database, "rita").role == Role.REVIEWER


def test_change_role_and_deactivate_release_items(app, ids, database, now):
    """An admin changes a role; deactivating a reviewer returns their held items and ends their login."""
    with database.session_scope() as s:
        add_outputs(s, 1, now=now)
        claim_next(session=s, reviewer_id=ids["rita"], now=utcnow(), lease_seconds=600)
    rita = app.test_client()
    login(rita, "rita")
    client, token = _as(app, "ada")
    assert client.post(f"/admin/users/{ids['lena']}/role", data={"csrf_token": token, "role": "reviewer"}
                       ).status_code == 303
    assert _user(database, "lena").role == Role.REVIEWER
    assert client.post(f"/admin/users/{ids['rita']}/deactivate", data={"csrf_token": token}).status_code == 303
    assert not _user(database, "rita").active
    with database.session_scope() as s:
        assert s.exec(select(Item)).one().status == ItemStatus.QUEUED
    assert rita.get("/queue").status_code == 302  # the old session no longer loads
    assert client.post(f"/admin/users/{ids['rita']}/activate", data={"csrf_token": token}).status_code == 303
    assert _user(database, "rita").active


def test_nobody_changes_their_own_account(app, ids, database):
    """An admin cannot demote or deactivate themselves (no lock-out by accident)."""
    client, token = _as(app, "ada")
    client.post(f"/admin/users/{ids['ada']}/role", data={"csrf_token": token, "role": "reviewer"})
    client.post(f"/admin/users/{ids['ada']}/deactivate", data={"csrf_token": token})
    ada = _user(database, "ada")
    assert ada.role == Role.ADMIN and ada.active


def test_admin_forms_need_csrf(app, ids, database):
    """A user-management POST without the CSRF token gets 400 and changes nothing."""
    client, _ = _as(app, "ada")
    assert client.post(f"/admin/users/{ids['rita']}/deactivate").status_code == 400
    assert _user(database, "rita").active


def test_user_names_are_escaped_in_the_list(app, ids, database, now):
    """A hostile user name is shown as text."""
    with database.session_scope() as s:
        make_user(s, "<img/src=x/onerror=alert(1)>", now=now)
    client, _ = _as(app, "ada")
    html = client.get("/admin/users").get_data(as_text=True)
    assert "&lt;img/src=x/onerror=alert(1)&gt;" in html and "<img/src" not in html
