"""Overlap: a share of sampled outputs goes to a second reviewer, blind to the first verdict.

When a real output is settled by its first reviewer and its (agent, trace_id) falls in the
category's [overlap] share, a copy is queued for one other active person. The copy looks like
any item (same payload, agent, category and age) and its decision is the second, independent
label for agreement (VIGILANCE.md §8). The first verdict is never shown to the second reviewer;
the agent only ever sees the original's outcome.

Costs nothing on the decision path when overlap is off, and never touches planted items (they
are assigned to their reviewer, as copies are, and `item.assigned_to` is already loaded).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.config import OverlapSettings
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import InvalidTransition, NotFound
from reviewq.domain.judges import automated_ids
from reviewq.domain.reasons import reason_for
from reviewq.domain.reviewer import ReviewerRef
from reviewq.models import (
    Decision,
    Injection,
    Item,
    ItemKind,
    ItemStatus,
    OverlapReview,
    Role,
    User,
    Verdict,
    new_public_id,
)

ACTIVE_DAYS = 14  # second reviewers are people who decided something in the last two weeks


def overlap_rate(category: str, settings: OverlapSettings) -> float:
    return settings.rates.get(category, settings.default_rate)


def overlap_point(agent: str, trace_id: str) -> float:
    """A uniform point in [0, 1) fixed by (agent, trace_id), independent of the sampling point."""
    digest = hashlib.sha256(f"overlap\x1f{agent}\x1f{trace_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def wants_overlap(item: Item, settings: OverlapSettings) -> bool:
    """A real, unassigned output in its category's overlap share. No query."""
    if item.kind != ItemKind.OUTPUT or item.assigned_to is not None:
        return False
    rate = overlap_rate(item.category, settings)
    return rate > 0 and (rate >= 1.0 or overlap_point(item.agent, item.trace_id) < rate)


def _second_reviewer(session: Session, *, first_id: int, item: Item, now: datetime) -> int | None:
    """An active person other than the first reviewer, spread evenly by the item's id."""
    recent = sa.select(Decision.reviewer_id).where(Decision.decided_at >= now - timedelta(days=ACTIVE_DAYS))
    candidates = [
        uid for uid in session.execute(
            sa.select(User.id).where(User.active.is_(True), User.role == Role.REVIEWER, User.id != first_id,
                                     User.id.in_(recent)).order_by(User.id)
        ).scalars()
    ]
    judges = automated_ids(session=session)
    people = [uid for uid in candidates if uid not in judges]
    if not people:
        return None
    digest = hashlib.sha256(item.public_id.encode()).digest()
    return people[int.from_bytes(digest[:4], "big") % len(people)]


def route_overlap(*, session: Session, item: Item, reviewer: ReviewerRef, settled: bool, now: datetime,
                  settings: OverlapSettings) -> OverlapReview | None:
    """After a settled decision: queue a blind copy for a second reviewer if the item is in the share."""
    if not settled or not wants_overlap(item, settings):
        return None
    if session.execute(sa.select(sa.exists().where(Injection.item_id == item.id))).scalar():
        return None  # planted, however it was planted: a canary's copy would be an unmarked canary
    second = _second_reviewer(session, first_id=reviewer.id, item=item, now=now)
    if second is None:
        return None  # nobody else to ask; the item simply has one label
    copy = Item(
        kind=ItemKind.OUTPUT, trace_id=item.trace_id, agent=item.agent, category=item.category,
        payload=item.payload, priority=item.priority, public_id=new_public_id("itm"), status=ItemStatus.QUEUED,
        assigned_to=second, created_at=item.created_at, updated_at=now,
    )
    session.add(copy)
    session.flush()
    row = OverlapReview(item_id=item.id, copy_item_id=copy.id, first_reviewer_id=reviewer.id,
                        second_reviewer_id=second, created_at=now)
    session.add(row)
    session.flush()
    return row


def adjudicate(*, session: Session, original_public_id: str, lead: ReviewerRef, verdict: Verdict,
               reason: str | None, note: str, known_reasons: tuple[str, ...], now: datetime) -> OverlapReview:
    """A lead settles a disagreement: the agreed label, with a note, audited."""
    row = session.execute(
        sa.select(OverlapReview).join(Item, Item.id == OverlapReview.item_id)
        .where(Item.public_id == original_public_id)
    ).scalar()
    if row is None:
        raise NotFound("no second review for this item", field="id")
    copy_status = session.execute(sa.select(Item.status).where(Item.id == row.copy_item_id)).scalar()
    if ItemStatus(copy_status) != ItemStatus.DECIDED:
        raise InvalidTransition("the second reviewer has not decided yet", field="id")
    verdict = Verdict(verdict)
    reason = reason_for(verdict, reason, known_reasons)
    row.adjudicated_verdict = verdict
    row.adjudicated_reason = reason
    row.adjudicated_by = lead.id
    row.adjudicated_at = now
    row.adjudication_note = (note or "").strip()[:2000]
    session.add(row)
    record_event(session=session, actor=user_actor(lead.name), action="item.adjudicated", object_type="item",
                 object_id=original_public_id, now=now,
                 details={"verdict": verdict.value, "reason": row.adjudicated_reason, "note": row.adjudication_note})
    return row
