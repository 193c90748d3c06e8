"""Every route × every role, including "no user": who gets in, who gets 403, who is sent to log in.

ROUTE_ACCESS must list every rule in `app.url_map`; a new route that is not listed fails
`test_every_route_is_in_the_table`, so whoever adds a route decides here who may use it.
Values: "public" (anyone), "token" (agent API: bearer token only, never a browser session), or a
frozenset of roles. Rules in JSON_ROUTES answer 401 JSON without a login; other pages redirect
to /login.
"""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from reviewq.models import Role
from tests.factories import make_user
from tests.support.web import csrf_token, login

ANY = frozenset({Role.REVIEWER, Role.LEAD, Role.ADMIN})
LEADS = frozenset({Role.LEAD, Role.ADMIN})

ROUTE_ACCESS: dict[str, str | frozenset[Role]] = {
    "/": "public",
    "/login": "public",
    "/logout": "public",
    "/healthz": "public",
    "/favicon.ico": "public",
    "/static/<path:filename>": "public",
    # reviewer queue (issue 3)
    "/queue": ANY,
    "/me": ANY,
    "/me/password": ANY,  # one's own password (issue 11)
    "/queue/next": ANY,
    "/queue/status": ANY,
    "/queue/items/<public_id>/decide": ANY,
    "/queue/items/<public_id>/heartbeat": ANY,
    "/queue/items/<public_id>/skip": ANY,
    # notifications (issue 18): the link opens the item after login; on call; the delivery log
    "/queue/items/<public_id>": ANY,
    "/queue/items/<public_id>/open": ANY,
    "/oncall": ANY,
    "/admin/notifications": LEADS,
    # admin
    "/admin": LEADS,
    "/admin/users": LEADS,
    "/admin/users/<int:user_id>/role": LEADS,
    "/admin/users/<int:user_id>/activate": LEADS,
    "/admin/users/<int:user_id>/deactivate": LEADS,
    "/admin/users/<int:user_id>/password": LEADS,  # a lead resets a password (issue 16)
    "/admin/users/unlock": LEADS,  # clear a login lock (issue 11)
    "/admin/webhooks": LEADS,
    "/admin/injections": LEADS,  # the injection log: never reviewers (issue 5)
    "/admin/canaries/audit": LEADS,  # the stealth audit (issue 12)
    "/admin/canaries/boost": LEADS,
    "/admin/canaries/retire": LEADS,  # retire or reinstate a flagged template (issue 12)
    # dashboard
    "/dashboard": LEADS,
    "/dashboard/reviewers/<name>": LEADS,
    "/dashboard/export/decisions.<fmt>": LEADS,
    "/dashboard/export/metrics.<fmt>": LEADS,
    # disputes of planted items (issue 13): reviewers dispute their own, leads resolve
    "/disputes": ANY,
    "/disputes/review": LEADS,
    "/disputes/<public_id>/resolve": LEADS,
    # the lead's workbench (issue 15): a reviewer may open only items they decided (404 otherwise)
    "/items": LEADS,
    "/items.<fmt>": LEADS,
    "/items/<public_id>": ANY,
    "/me/history": ANY,
    "/items/<public_id>/overturn": LEADS,
    "/agreement": LEADS,
    "/failures": LEADS,
    "/failures.<fmt>": LEADS,
    "/agreement/<public_id>/adjudicate": LEADS,
    # agent API
    "/api/v1/items": "token",
    "/api/v1/items/<public_id>": "token",
    "/api/v1/approvals": "token",
    "/api/v1/approvals/<public_id>": "token",
    "/api/v1/approvals/<public_id>/cancel": "token",
    "/api/v1/approvals/<public_id>/consume": "token",
    "/api/v1/whoami": "token",
    "/api/v1/openapi.json": "public",
    # automated judges (issue 15): a token with the review scope
    "/api/v1/review/next": "token",
    "/api/v1/review/<public_id>/decide": "token",
    "/api/v1/review/<public_id>/skip": "token",
}

JSON_ROUTES = frozenset({
    "/queue/next",
    "/queue/status",
    "/queue/items/<public_id>/decide",
    "/queue/items/<public_id>/heartbeat",
    "/queue/items/<public_id>/skip",
    "/queue/items/<public_id>/open",
})

# Values for URL parameters: real where a GET needs one, nonexistent ids where a POST would change state.
ARG_VALUES = {"name": "rita", "fmt": "csv", "filename": "app.css"}
COLUMNS = ["none", "reviewer", "lead", "admin"]
USERS = {"reviewer": "rita", "lead": "lena", "admin": "ada"}


def _url(rule: Rule) -> str:
    values = {}
    for arg in rule.arguments:
        converter = type(rule._converters[arg]).__name__
        values[arg] = ARG_VALUES.get(arg, 999_999 if converter == "IntegerConverter" else "nonexistent")
    return rule.build(values, append_unknown=False)[1]


def _requests(app):
    """(rule, method, url) for every rule and method, with /logout last so it cannot end the session early."""
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, method, _url(rule)))
    return sorted(out, key=lambda r: (r[0] == "/logout", r[0], r[1]))


def test_every_route_is_in_the_table(app):
    """A route missing from ROUTE_ACCESS fails here: its owner must say who may use it."""
    missing = sorted({r.rule for r in app.url_map.iter_rules()} - set(ROUTE_ACCESS))
    assert missing == [], f"add these rules to ROUTE_ACCESS in tests/test_route_matrix.py: {missing}"


def test_the_table_names_only_real_routes(app):
    """No stale rows: every rule in ROUTE_ACCESS and JSON_ROUTES exists."""
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert sorted(set(ROUTE_ACCESS) - rules) == [] and sorted(JSON_ROUTES - rules) == []


@pytest.mark.parametrize("column", COLUMNS)
def test_route_role_matrix(app, database, now, column):
    """Allowed roles get in; other roles get 403; no user is sent to /login (pages) or gets 401 JSON;
    the agent API refuses a browser session without a bearer token."""
    with database.session_scope() as s:
        make_user(s, "rita", Role.REVIEWER, now=now)
        make_user(s, "lena", Role.LEAD, now=now)
        make_user(s, "ada", Role.ADMIN, now=now)
    client = app.test_client()
    if column != "none":
        assert login(client, USERS[column]).status_code == 302
    token = csrf_token(client)
    role = None if column == "none" else Role(column)
    failures = []
    for rule, method, url in _requests(app):
        access = ROUTE_ACCESS.get(rule)
        if access is None:
            continue  # reported by test_every_route_is_in_the_table
        kwargs = {"headers": {"X-CSRFToken": token}}
        if method != "GET":
            kwargs["data"] = {"csrf_token": token}
        r = client.open(url, method=method, **kwargs)
        problem = _check(rule, access, role, r)
        if problem:
            failures.append(f"{method} {url} as {column}: {problem} (got {r.status_code})")
    assert failures == []


def _check(rule: str, access, role: Role | None, r) -> str | None:
    status = r.status_code
    to_login = status in (301, 302, 303) and r.headers.get("Location", "").startswith("/login")
    if status >= 500:
        return "server error"
    if access == "public":
        return "refused a public route" if status == 403 else None
    if access == "token":
        if status != 401:
            return "agent API must answer 401 without a bearer token"
        return None if r.is_json else "401 must be JSON"
    if role is None:
        if rule in JSON_ROUTES:
            return None if status == 401 and r.is_json else "expected 401 JSON"
        return None if to_login else "expected a redirect to /login"
    if role not in access:
        return None if status == 403 else "expected 403"
    if status in (401, 403) or to_login:
        return "allowed role was refused"
    return None
