"""What a reviewer sees of the queue as a whole, and of their own planted-item history.

STEALTH (DESIGN.md "Canaries"): queue depth counts only shared work (items assigned to nobody),
so a planted item held back for one reviewer never shows up as a change in the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.lean_sql import Prebuilt
from reviewq.models import Injection, InjectionOutcome, Item, ItemKind, ItemStatus

# An approval whose deadline is this close counts as "due soon" on the queue page.
DUE_SOON = timedelta(minutes=15)
# Counts stop here ("1000+"): every next and every open queue page's poll counts, and counting
# 14,000 waiting items took 2 ms of each next. A reviewer's header needs no more; leads' dashboard
# backlog counts exactly.
COUNT_CAP = 1000


@dataclass(frozen=True)
class QueueCounts:
    waiting: int  # shared items ready to claim now, at most COUNT_CAP
    approvals_due_soon: int  # open approvals whose deadline falls within DUE_SOON, at most COUNT_CAP


def _capped_count(*conditions) -> sa.ScalarSelect:
    first = select(Item.id).where(*conditions).limit(sa.bindparam("cap", type_=sa.Integer())).subquery()
    return select(sa.func.count()).select_from(first).scalar_subquery()


def _queue_counts_query() -> sa.Select:
    """Two counts over the open-items index in one statement, built once (every /queue/next runs it)."""
    now = sa.bindparam("now")
    waiting = _capped_count(
        Item.status == ItemStatus.QUEUED, Item.assigned_to.is_(None),
        sa.or_(Item.not_before.is_(None), Item.not_before <= now),
    )
    due = _capped_count(
        Item.kind == ItemKind.APPROVAL,
        Item.status.in_((ItemStatus.QUEUED, ItemStatus.LEASED)),
        Item.assigned_to.is_(None),
        Item.deadline > now,
        Item.deadline <= sa.bindparam("due_by"),
    )
    return select(waiting.label("waiting"), due.label("due"))


_QUEUE_COUNTS = Prebuilt(_queue_counts_query())


def queue_counts(*, session: Session, now: datetime) -> QueueCounts:
    """Work waiting, and approvals about to time out, each counted up to COUNT_CAP."""
    row = _QUEUE_COUNTS.run(
        session, {"now": now, "due_by": now + DUE_SOON, "cap": COUNT_CAP}).one()
    return QueueCounts(waiting=row.waiting, approvals_due_soon=row.due)


@dataclass(frozen=True)
class PlantedRecord:
    decided_at: datetime | None
    kind: str  # canary | control
    outcome: str
    bucket: str | None
    explanation: str
    agent: str
    category: str
    item_kind: str


SCORED = (InjectionOutcome.CAUGHT, InjectionOutcome.MISSED, InjectionOutcome.FALSE_ALARM, InjectionOutcome.CORRECT)


def planted_totals(*, session: Session, reviewer_id: int) -> dict[str, int]:
    """How many planted items this reviewer caught, missed, flagged wrongly or approved rightly
    (drills, announced training, left out)."""
    rows = session.execute(
        select(Injection.outcome, sa.func.count(Injection.id))
        .where(Injection.reviewer_id == reviewer_id, Injection.outcome.in_(SCORED), Injection.drill.is_(False))
        .group_by(Injection.outcome)
    ).all()
    counts = {o.value: 0 for o in SCORED}
    counts.update({getattr(o, "value", o): n for o, n in rows})
    return counts


def planted_history(*, session: Session, reviewer_id: int, limit: int = 50) -> list[PlantedRecord]:
    """This reviewer's revealed planted items, latest first: what they were and how it went."""
    rows = session.exec(
        select(Injection, Item.agent, Item.category, Item.kind)
        .join(Item, Item.id == Injection.item_id)
        .where(Injection.reviewer_id == reviewer_id, Injection.revealed_at.is_not(None),
               Injection.outcome.in_(SCORED))
        .order_by(Injection.decided_at.desc(), Injection.id.desc())
        .limit(limit)
    ).all()
    return [
        PlantedRecord(
            decided_at=inj.decided_at, kind=getattr(inj.kind, "value", inj.kind),
            outcome=getattr(inj.outcome, "value", inj.outcome), bucket=inj.bucket, explanation=inj.explanation,
            agent=agent, category=category, item_kind=str(getattr(kind, "value", kind)),
        )
        for inj, agent, category, kind in rows
    ]
