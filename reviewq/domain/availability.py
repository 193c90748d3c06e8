"""On call: reviewers mark themselves available or away; who is on now.

Someone is on call when they said they are available, or when they are working the queue right
now (a decision within the session gap), whatever they said: a reviewer deciding items is
plainly reachable. Nobody on call means a new approval escalates at once (domain.notifications).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import NotFound
from reviewq.models import Availability, ReviewerAvailability, ReviewSession, Role, User


@dataclass(frozen=True)
class OnCallRow:
    name: str
    role: str
    said: str | None  # available | away | None (never said)
    said_at: datetime | None
    last_activity_at: datetime | None
    on_call: bool


def set_availability(*, session: Session, user_id: int, status: Availability, now: datetime) -> bool:
    """Record the reviewer's own mark; False when it was already so."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user", field="user")
    row = session.exec(select(ReviewerAvailability).where(ReviewerAvailability.user_id == user_id)).first()
    if row is not None and row.status == status:
        return False
    if row is None:
        row = ReviewerAvailability(user_id=user_id, status=status, changed_at=now)
    row.status, row.changed_at = status, now
    session.add(row)
    record_event(session=session, actor=user_actor(user.name), action=f"oncall.{status.value}",
                 object_type="user", object_id=user.name, now=now)
    session.flush()
    return True


def _recent_activity(gap_minutes: int, now: datetime):
    return (
        select(ReviewSession.reviewer_id, sa.func.max(ReviewSession.last_activity_at).label("last"))
        .where(ReviewSession.last_activity_at >= now - timedelta(days=7))
        .group_by(ReviewSession.reviewer_id)
        .subquery()
    )


def on_call_board(*, session: Session, now: datetime, gap_minutes: int) -> list[OnCallRow]:
    """Every active user who may review, with what they said and whether they are on call now."""
    recent = _recent_activity(gap_minutes, now)
    rows = session.execute(
        select(User.name, User.role, ReviewerAvailability.status, ReviewerAvailability.changed_at, recent.c.last)
        .outerjoin(ReviewerAvailability, ReviewerAvailability.user_id == User.id)
        .outerjoin(recent, recent.c.reviewer_id == User.id)
        .where(User.active.is_(True), User.role.in_([Role.REVIEWER, Role.LEAD]))
        .order_by(User.name)
    ).all()
    cutoff = now - timedelta(minutes=gap_minutes)
    board = []
    for name, role, said, said_at, last in rows:
        said = Availability(said).value if said is not None else None
        working = last is not None and last >= cutoff
        board.append(OnCallRow(name=name, role=Role(role).value, said=said, said_at=said_at, last_activity_at=last,
                               on_call=said == Availability.AVAILABLE.value or working))
    board.sort(key=lambda r: (not r.on_call, r.name))
    return board


def anyone_on_call(*, session: Session, now: datetime, gap_minutes: int) -> bool:
    said = session.execute(
        select(sa.func.count()).select_from(ReviewerAvailability)
        .join(User, User.id == ReviewerAvailability.user_id)
        .where(ReviewerAvailability.status == Availability.AVAILABLE, User.active.is_(True))
    ).scalar_one()
    if said:
        return True
    working = session.execute(
        select(sa.func.count()).select_from(ReviewSession)
        .join(User, User.id == ReviewSession.reviewer_id)
        .where(ReviewSession.last_activity_at >= now - timedelta(minutes=gap_minutes), User.active.is_(True))
    ).scalar_one()
    return bool(working)


def my_availability(*, session: Session, user_id: int) -> ReviewerAvailability | None:
    return session.exec(select(ReviewerAvailability).where(ReviewerAvailability.user_id == user_id)).first()
