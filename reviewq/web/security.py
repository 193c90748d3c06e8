"""CSRF protection for every state-changing form, and security headers on every response."""

from __future__ import annotations

from flask import Flask, render_template, request

from reviewq.config import Settings, secure_cookies
from reviewq.web.errors import error_response, wants_json
from reviewq.web.signed_values import RememberingCSRFProtect, RememberingSessionInterface

csrf = RememberingCSRFProtect()

# Scripts from this origin only, never inline; agent output can therefore never run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # plotly.js sets element styles from script; no inline <script> is allowed either way.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _nul_in_request():
    """An error for a NUL byte in the path, a query parameter or a form field; None if there is none.

    PostgreSQL cannot store or even compare text holding NUL, so such a value reaching a query was
    a 500. No id, name or filter ever holds one: the path is simply not found, a field is refused.
    """
    if "\x00" in request.path:
        return _refuse(404, "not_found", "no such resource", "path")
    fields = [("query", request.args)]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields.append(("form", request.form))
    for _where, values in fields:
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return _refuse(400, "invalid_field", f"{key.replace(chr(0), '')!r} may not contain a NUL byte",
                               key.replace("\x00", ""))
    return None


def _refuse(status: int, code: str, message: str, field: str):
    if wants_json():
        return error_response(status, code, message, field=field)
    return render_template("error.html", status=status, message=message), status


HTTPS_REQUIRED = (
    "This reviewq server marks its session cookies Secure (production mode), but this page was "
    "reached over plain http, so your browser would never send the login back. Serve it over "
    "https, behind a TLS proxy that sets X-Forwarded-Proto (and set server.proxy_count to the number "
    "of proxies), or, only on a network you trust, set server.secure_cookies = false."
)


def _https_required():
    """Pages of a production server with Secure cookies refuse plain http with a clear reason.

    Without this a login over http "works" and the next page bounces back to the login form.
    The agent API (bearer tokens, no cookies), /healthz and static files are left alone.
    """
    if request.scheme == "https" or request.path.startswith(("/api/", "/static/")) or request.path == "/healthz":
        return None
    return _refuse(403, "https_required", HTTPS_REQUIRED, "scheme")


def init_app(app: Flask, settings: Settings) -> None:
    # Before CSRF: a form posted over http gets the reason, not "CSRF session token missing".
    if secure_cookies(settings):
        app.before_request(_https_required)
    app.session_interface = RememberingSessionInterface()
    csrf.init_app(app)
    app.before_request(_nul_in_request)

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response
