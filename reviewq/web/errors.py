"""One error helper and one response shape: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from reviewq.domain.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    LeaseLost,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[DomainError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    LeaseLost: 409,
    InvalidTransition: 409,
    Conflict: 409,
    DomainError: 400,
}


class ApiError(Exception):
    """Raised from a view to answer with an error in the one shape."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    body = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    """API routes and the queue page's fetch() calls get JSON; pages get HTML."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    accept = request.accept_mimetypes
    return request.is_json or (accept.best == "application/json")


# What each page error is called, and what the person can do about it.
PAGE_ERRORS = {
    400: ("Bad request", "The request could not be read. Go back and try again."),
    403: ("Not for your role", "This page is for leads and admins. Ask a lead if you need what is on it."),
    404: ("Page not found", "Nothing lives at this address. Check the link, or use the navigation above."),
    405: ("Not allowed", "This address does not take that kind of request. Use the navigation above."),
    409: ("Conflict", "Someone changed this at the same time. Reload the page and try again."),
    422: ("Invalid value", "Correct the value named above, or clear the filters to start over."),
    500: ("Something went wrong", "The error was logged. Try again in a moment; if it keeps happening, tell an admin."),
}


def error_page(status: int, message: str | None):
    """An HTML error page with the navigation bar, saying what went wrong and what to do next."""
    title, advice = PAGE_ERRORS.get(status, ("Error", "Use the navigation above to carry on."))
    links = []
    if status == 422 and request.args:
        links.append(("Clear the filters", request.path))
    if getattr(current_user, "is_authenticated", False):
        links.append(("Go to your queue", "/queue"))
    else:
        links.append(("Log in", f"/login?next={request.path}"))
    if message and message.strip() == (title + "."):
        message = None
    return render_template("error.html", status=status, title=title, message=message, advice=advice,
                           links=links), status


def domain_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 400


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, field=exc.field, headers=exc.headers)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):
        status = domain_status(exc)
        if wants_json():
            return error_response(status, exc.code, exc.message, field=exc.field)
        return error_page(status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        if wants_json():
            response = error_response(exc.code or 500, code, exc.description or exc.name)
            for key in ("Retry-After", "Allow"):
                if exc.get_response().headers.get(key):
                    response.headers[key] = exc.get_response().headers[key]
            return response
        # Werkzeug's stock text ("The requested URL was not found…") adds nothing to our advice.
        custom = exc.description if exc.description != type(exc).description else None
        return error_page(exc.code or 500, custom)

    @app.errorhandler(PoolTimeout)
    @app.errorhandler(OperationalError)
    def _busy(exc: Exception):
        """No database connection or write lock in time: a retry helps, so 503, not 500."""
        if isinstance(exc, OperationalError) and "database is locked" not in str(exc):
            return _unexpected(exc)
        log.warning("busy on %s %s: %s", request.method, request.path, str(exc).splitlines()[0][:200])
        if wants_json():
            return error_response(503, "busy", "the server is busy; retry shortly", headers={"Retry-After": "1"})
        return error_page(503, "The server is busy; try again in a moment.")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return error_response(500, "internal_error", "an unexpected error occurred")
        return error_page(500, None)
