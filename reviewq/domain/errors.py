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


class DeadlinePassed(Conflict):
    """The approval's deadline passed before the verdict came: it has been expired in this session.

    The caller commits the session (the item settled as expired, fail closed), then tells the
    reviewer: the verdict itself was not recorded.
    """

    code = "deadline_passed"

    def __init__(self, message: str, *, outcome: str, field: str | None = "id"):
        super().__init__(message, field=field)
        self.outcome = outcome
