"""Accounts: creation, password checks and role changes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from reviewq.domain.audit import record_event
from reviewq.domain.errors import Conflict, ValidationFailed
from reviewq.models import Role, User, UserCreate

# Hash compared against when the name is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")
MIN_PASSWORD_LENGTH = 8


def create_user(*, session: Session, data: UserCreate, now: datetime, actor: str) -> User:
    name = data.name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise ValidationFailed("a user name is 1-64 characters without spaces", field="name")
    if len(data.password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if get_user_by_name(session=session, name=name) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    user = User(
        name=name,
        role=Role(data.role),
        active=data.active,
        password_hash=generate_password_hash(data.password, method="scrypt"),
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
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def set_password(*, session: Session, user: User, password: str, now: datetime, actor: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    user.password_hash = generate_password_hash(password, method="scrypt")
    session.add(user)
    record_event(
        session=session, actor=actor, action="user.password_set", object_type="user",
        object_id=user.id, now=now,
    )
