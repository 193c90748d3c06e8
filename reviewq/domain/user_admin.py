"""Managing accounts from the admin pages: who may change whom, role changes, deactivation."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from reviewq.domain.audit import record_event
from reviewq.domain.claims import release_all
from reviewq.domain.errors import Conflict, NotFound
from reviewq.domain.users import end_sessions
from reviewq.models import Role, User


def may_manage(actor: Role, target: Role, new_role: Role | None = None) -> bool:
    """Leads manage reviewers and leads; only admins touch admin accounts or hand out admin."""
    if actor == Role.ADMIN:
        return True
    if actor != Role.LEAD:
        return False
    return target != Role.ADMIN and new_role != Role.ADMIN


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user")
    return user


def list_users(*, session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.active.desc(), User.name)).all())


def _refuse_self(user: User, actor_id: int, what: str) -> None:
    # Nobody locks themselves out; another lead or admin must do it.
    if user.id == actor_id:
        raise Conflict(f"you cannot {what} your own account", field="user")


def set_role(*, session: Session, user: User, role: Role, actor_id: int, actor: str, now: datetime) -> bool:
    """Change a user's role. False if it already was that role."""
    _refuse_self(user, actor_id, "change the role of")
    role = Role(role)
    if user.role == role:
        return False
    before = Role(user.role)
    user.role = role
    session.add(user)
    end_sessions(session=session, user=user)  # their pages were served for the old role
    record_event(
        session=session, actor=actor, action="user.role_changed", object_type="user",
        object_id=user.id, now=now, details={"name": user.name, "from": before.value, "to": role.value},
    )
    return True


def set_active(*, session: Session, user: User, active: bool, actor_id: int, actor: str, now: datetime) -> bool:
    """Deactivate (their held items go back to the queue) or reactivate. False if unchanged."""
    _refuse_self(user, actor_id, "deactivate" if not active else "reactivate")
    if user.active == active:
        return False
    user.active = active
    session.add(user)
    end_sessions(session=session, user=user)
    released = 0 if active else release_all(session=session, reviewer_id=user.id, now=now)
    record_event(
        session=session, actor=actor, action="user.activated" if active else "user.deactivated",
        object_type="user", object_id=user.id, now=now,
        details={"name": user.name, "released_items": released},
    )
    return True
