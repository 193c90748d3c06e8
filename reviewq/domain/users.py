"""Accounts: creation, password checks and role changes."""

from __future__ import annotations

import functools
import os
import threading
from datetime import datetime

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import Conflict, ValidationFailed
from reviewq.domain.passwords import check_password
from reviewq.models import Role, User, UserCreate

# OWASP's scrypt setting N=2^13, r=8, p=10 (one of its table of equal-strength settings, with
# 2^17/1, 2^16/2, 2^15/3, 2^14/5): 8 MiB while hashing. Each login's peak memory counts against
# the server's, which with 10,000 long-polls parked is near its limit; the work is 2^14/5's.
# Werkzeug's default (N=2^15, p=1) needs 32 MiB yet does less work than OWASP's minimum. Hashes
# made with other parameters (2^14/5 before) still verify: they carry their own.
PASSWORD_HASH_METHOD = "scrypt:8192:8:10"


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Password hashes computed at once in this process, the rest wait their turn: each takes 8 MiB
# and a core for ~0.1 s (it runs outside the GIL), so logins to many accounts at once (a
# credential-stuffing burst, a shift starting) must neither add 8 MiB per request thread to the
# server's peak memory nor take every core from the reviewers being served: half the cores, and
# never more than two (the affinity mask ignores a container's CPU quota: 2 CPUs of a 64-core
# host would otherwise hash 32 at once).
HASHES_AT_ONCE = max(1, min(2, _usable_cores() // 2))
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


def _hash(password: str) -> str:
    with _hashing:
        return generate_password_hash(password, method=PASSWORD_HASH_METHOD)


def _verify(password_hash: str, password: str) -> bool:
    with _hashing:
        return check_password_hash(password_hash, password)


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the name is unknown, so a miss costs as long as a wrong password.

    Made on first use, not at import: scrypt needs 8 MiB while hashing, and every process that
    imports this module (the gunicorn master, CLI commands) would otherwise pay that peak.
    """
    return _hash("not-a-real-password")


def create_user(*, session: Session, data: UserCreate, now: datetime, actor: str) -> User:
    name = data.name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise ValidationFailed("a user name is 1-64 characters without spaces", field="name")
    check_password(data.password, name=name)
    if get_user_by_name(session=session, name=name) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    user = User(
        name=name,
        role=Role(data.role),
        active=data.active,
        password_hash=_hash(data.password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    record_event(
        session=session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=user.id,
        now=now,
        details={"name": name, "role": user.role},
    )
    return user


def get_user_by_name(*, session: Session, name: str) -> User | None:
    return session.exec(select(User).where(User.name == name)).first()


def authenticate(*, session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, or None."""
    user = get_user_by_name(session=session, name=name)
    if user is None:
        _verify(_dummy_hash(), password)
        return None
    if not _verify(user.password_hash, password) or not user.active:
        return None
    return user


def set_password(*, session: Session, user: User, password: str, now: datetime, actor: str) -> None:
    """A new password for `user`; every session they have ends (see end_sessions)."""
    check_password(password, name=user.name)
    user.password_hash = _hash(password)
    session.add(user)
    end_sessions(session=session, user=user)
    record_event(
        session=session, actor=actor, action="user.password_set", object_type="user",
        object_id=user.id, now=now,
    )


def change_own_password(*, session: Session, user: User, current: str, new: str, now: datetime) -> None:
    """The user's own change: the current password must be right, the new one must pass the rule."""
    if not _verify(user.password_hash, current):
        raise ValidationFailed("the current password is not right", field="current_password")
    if new == current:
        raise ValidationFailed("the new password must differ from the current one", field="password")
    set_password(session=session, user=user, password=new, now=now, actor=user_actor(user.name))


def end_sessions(*, session: Session, user: User) -> int:
    """End every login of this user at once: each request checks its cookie's session version.

    Returns the new version (a login that should survive, the one changing the password, takes it).
    """
    user.session_version = (user.session_version or 0) + 1
    session.add(user)
    return user.session_version
