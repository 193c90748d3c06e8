"""Domain errors. The web layer maps `code` to an HTTP status; nothing here knows HTTP."""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    code = "invalid_field"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class LeaseLost(Conflict):
    """The reviewer no longer holds the item: the lease ran out and someone else took it."""

    code = "lease_lost"
