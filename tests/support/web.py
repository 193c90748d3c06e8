"""Logging in through the real form, and the CSRF token a page carries, for Flask test clients."""

from __future__ import annotations

import re

from tests.factories import PASSWORD

_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of this client's session, read from a page's <meta name="csrf-token">."""
    match = _META.search(client.get(path).get_data(as_text=True))
    assert match, f"no csrf-token meta on {path}"
    return match.group(1)


def login(client, name: str, password: str = PASSWORD, **environ):
    """POST the login form with a valid CSRF token; returns the response."""
    token = csrf_token(client)
    return client.post(
        "/login", data={"name": name, "password": password, "csrf_token": token},
        environ_base=environ,
    )


def json_headers(client) -> dict[str, str]:
    """Headers the queue page's fetch() calls send."""
    return {"X-CSRFToken": csrf_token(client, "/login"), "Accept": "application/json"}
