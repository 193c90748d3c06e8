"""One error helper and one response shape: {"error": {"code", "message", "field"?}}."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
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
        return render_template("error.html", status=status, message=exc.message), status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        if wants_json():
            response = error_response(exc.code or 500, code, exc.description or exc.name)
            for key in ("Retry-After", "Allow"):
                if exc.get_response().headers.get(key):
                    response.headers[key] = exc.get_response().headers[key]
            return response
        return render_template("error.html", status=exc.code, message=exc.description), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return error_response(500, "internal_error", "an unexpected error occurred")
        return render_template("error.html", status=500, message="Something went wrong."), 500
