"""What one reviewer's screen needs: approvals given, their session, their totals.

Queries only; the rules they feed (sessions, break nudge) live in time_on_task.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.time_on_task import SessionSoFar, continuous_active_minutes
from reviewq.lean_sql import Prebuilt, loaded
from reviewq.models import Decision, Item, ReviewSession, Verdict


class ReviewerRef(Protocol):
    """Who decides: what the decision path reads of a reviewer (a User row, or a request's snapshot)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


# Both run on every decision: the statements are built once.
# Approvers, not approvals: one reviewer approving twice is still one person.
# Off the bare cursor (lean_sql.py): every woken waiter's re-read counts its approval's approvers.
_GIVEN = select(sa.func.count(sa.distinct(Decision.reviewer_id))).where(
    Decision.item_id == sa.bindparam("item_id"), Decision.verdict == Verdict.APPROVE
)
_APPROVALS_GIVEN = Prebuilt(_GIVEN)
_OTHER_APPROVERS = Prebuilt(_GIVEN.where(Decision.reviewer_id != sa.bindparam("reviewer_id")))
_SESSIONS = ReviewSession.__table__
# Read on every next and decide: a snapshot off the bare cursor, not an ORM load (lean_sql.py).
_LATEST_SESSION = Prebuilt(
    sa.select(*_SESSIONS.columns)
    .where(_SESSIONS.c.reviewer_id == sa.bindparam("reviewer_id"))
    .order_by(_SESSIONS.c.last_activity_at.desc(), _SESSIONS.c.id.desc())
    .limit(1)
)


def approvals_given(*, session: Session, item_id: int) -> int:
    """Reviewers who have approved this item so far (the two-person rule's progress)."""
    return _APPROVALS_GIVEN.run(session, {"item_id": item_id}).scalar_one()


def other_approvers(*, session: Session, item_id: int, reviewer_id: int) -> int:
    """Reviewers other than `reviewer_id` who have approved this item: with theirs, the count that settles."""
    return _OTHER_APPROVERS.run(session, {"item_id": item_id, "reviewer_id": reviewer_id}).scalar_one()


def latest_session(*, session: Session, reviewer_id: int) -> ReviewSession | None:
    """The reviewer's most recent session: the session's own object if it holds it, else a detached
    snapshot (changes to that are not flushed)."""
    row = _LATEST_SESSION.run(session, {"reviewer_id": reviewer_id}).first()
    return None if row is None else loaded(session, ReviewSession, row)


@dataclass(frozen=True)
class SessionNow:
    """The reviewer's running session as of `now` (zeros once the gap has ended it)."""

    running: bool
    active_minutes: float
    decisions: int
    started_at: datetime | None
    nudge: bool  # continuous active time reached the break-nudge threshold (VIGILANCE.md §6)


def session_now(
    latest: ReviewSession | None, *, now: datetime, gap_minutes: int, nudge_minutes: int
) -> SessionNow:
    so_far = (
        SessionSoFar(latest.started_at, latest.last_activity_at, latest.active_ms) if latest else None
    )
    minutes = continuous_active_minutes(so_far, now=now, gap_minutes=gap_minutes)
    running = latest is not None and now - latest.last_activity_at < timedelta(minutes=gap_minutes)
    return SessionNow(
        running=running,
        active_minutes=minutes,
        decisions=latest.decisions if running else 0,
        started_at=latest.started_at if running else None,
        nudge=running and minutes >= nudge_minutes,
    )


@dataclass(frozen=True)
class Totals:
    decisions: int
    approved: int
    rejected: int
    active_ms: int
    server_ms: int

    @property
    def mean_active_s(self) -> float | None:
        return self.active_ms / self.decisions / 1000 if self.decisions else None


def totals_since(*, session: Session, reviewer_id: int, since: datetime) -> Totals:
    """One reviewer's decisions and time on task from `since` on, in one aggregate query."""
    approve = sa.case((Decision.verdict == Verdict.APPROVE, 1), else_=0)
    row = session.exec(
        select(
            sa.func.count(Decision.id),
            sa.func.coalesce(sa.func.sum(approve), 0),
            sa.func.coalesce(sa.func.sum(Decision.active_ms), 0),
            sa.func.coalesce(sa.func.sum(Decision.server_ms), 0),
        ).where(Decision.reviewer_id == reviewer_id, Decision.decided_at >= since)
    ).one()
    count, approved, active_ms, server_ms = (int(v) for v in row)
    return Totals(count, approved, count - approved, active_ms, server_ms)


def day_and_week_start(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Local midnight today and local Monday 00:00 this week, in the reviewers' time zone."""
    local = now.astimezone(ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight, midnight - timedelta(days=midnight.weekday())


@dataclass(frozen=True)
class RecentDecision:
    decided_at: datetime
    verdict: Verdict
    reason: str | None
    note: str
    active_ms: int
    agent: str
    category: str
    kind: str
    item: str = ""  # the item's public id (its page: /items/<id>)


def recent_decisions(*, session: Session, reviewer_id: int, limit: int = 10) -> list[RecentDecision]:
    """This reviewer's latest decisions with what they were about (one joined query)."""
    rows = session.exec(
        select(Decision, Item.agent, Item.category, Item.kind, Item.public_id)
        .join(Item, Item.id == Decision.item_id)
        .where(Decision.reviewer_id == reviewer_id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .limit(limit)
    ).all()
    return [
        RecentDecision(
            decided_at=d.decided_at,
            verdict=Verdict(d.verdict),
            reason=getattr(d.reason, "value", d.reason),
            note=d.note,
            active_ms=d.active_ms,
            agent=agent,
            category=category,
            kind=str(getattr(kind, "value", kind)),
            item=public_id,
        )
        for d, agent, category, kind, public_id in rows
    ]
