"""The password rule for new passwords (NIST SP 800-63B §5.1.1.2): long enough, not known to be common.

No composition rules and no forced rotation, as the guideline asks; instead a new password is
refused when it is on the shipped list of the 10,000 most common passwords, is the account's
own name (or contains it), or is one character repeated.
"""

from __future__ import annotations

import functools
from importlib import resources

from reviewq.domain.errors import ValidationFailed

MIN_PASSWORD_LENGTH = 8
# Long enough for any passphrase; bounds the work of hashing what a client sends.
MAX_PASSWORD_LENGTH = 256
SERVICE_WORDS = ("reviewq",)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased; read on first use, not at import."""
    text = resources.files("reviewq.domain").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("# "))


def password_problem(password: str, *, name: str) -> str | None:
    """Why `password` may not be used by the account `name`, or None if it may."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    if lowered in common_passwords():
        return "this password is on the list of the most common passwords; choose another"
    plain_name = name.strip().lower()
    if plain_name and (lowered == plain_name or (len(plain_name) >= 3 and plain_name in lowered)):
        return "a password may not contain the user name"
    if any(word in lowered for word in SERVICE_WORDS):
        return "a password may not contain the name of this service"
    if len(set(password)) == 1:
        return "a password may not be one character repeated"
    return None


def check_password(password: str, *, name: str) -> None:
    """Raise ValidationFailed (field "password") if `password` breaks the rule."""
    problem = password_problem(password, name=name)
    if problem is not None:
        raise ValidationFailed(problem, field="password")
