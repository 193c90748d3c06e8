"""Settling a reviewer's verdict: record the decision, settle or requeue the item, run its effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.approval_binding import shown_tool_digest
from reviewq.domain.approval_settlement import refuse_late_verdict
from reviewq.domain.claims import held_by
from reviewq.domain.effects import DecisionEffects, after_decision
from reviewq.domain.errors import InvalidTransition, LeaseLost
from reviewq.domain.items import get_item, set_loaded
from reviewq.domain.reasons import reason_for
from reviewq.domain.reviewer import ReviewerRef, other_approvers
from reviewq.domain.session_clock import clock_decision
from reviewq.domain.transitions import check, entering, guard, per_table
from reviewq.lean_sql import Prebuilt, column_values, loaded, stored
from reviewq.models import (
    Decision,
    DecisionCreate,
    Item,
    ItemKind,
    ItemStatus,
    Outcome,
    ReviewSession,
    Verdict,
    can_transition,
)
from reviewq.models.common import UTCDateTime


@dataclass(frozen=True)
class DecideResult:
    item: Item
    decision: Decision
    settled: bool  # the item reached its outcome (False: first of two approvals)
    effects: DecisionEffects
    review_session: ReviewSession  # the reviewer's session, this decision included


def outcome_for(verdict: Verdict, kind: ItemKind) -> Outcome:
    """A final verdict's outcome: approve, or reject for an output and deny for an approval."""
    if verdict == Verdict.APPROVE:
        return Outcome.APPROVE
    return Outcome.DENY if kind == ItemKind.APPROVAL else Outcome.REJECT


# Prebuilt (per state of the transition table), because a decision is the hot path (`reviewq
# bench`) and building the statement cost more than running it.
_ITEMS = Item.__table__
_NOW = sa.bindparam("now", type_=UTCDateTime())


def _outcome_sql(verdict: Verdict):
    """outcome_for(verdict, items.kind), in SQL."""
    by_kind = {kind: sa.literal(outcome_for(verdict, kind), type_=_ITEMS.c.outcome.type) for kind in ItemKind}
    if len({outcome_for(verdict, kind) for kind in ItemKind}) == 1:
        return next(iter(by_kind.values()))
    return sa.case(*((Item.kind == kind, outcome) for kind, outcome in by_kind.items()))


@per_table
def _settle_held(verdict: Verdict):
    """Settle the item if this reviewer holds it and their verdict is final, returning the item's
    columns (every decision runs it: on the bare cursor, the item a snapshot; lean_sql.py)."""
    final = Item.required_approvals <= 1 if verdict == Verdict.APPROVE else sa.true()
    in_time = sa.or_(Item.deadline.is_(None), Item.deadline > _NOW)
    return Prebuilt(
        sa.update(Item)
        .where(held_by(ItemStatus.DECIDED), final, in_time)
        .values(**entering(ItemStatus.DECIDED, _NOW), outcome=_outcome_sql(verdict), decided_at=_NOW)
        .returning(*_ITEMS.columns)
    )


@per_table
def _move_held(status: ItemStatus):
    """Move the item `item_id` to `status` if this reviewer still holds it (the outcome is a parameter)."""
    still_held = sa.and_(
        _ITEMS.c.id == sa.bindparam("item_id"),
        guard(status, ItemStatus.LEASED, column=_ITEMS.c.status),
        _ITEMS.c.lease_holder == sa.bindparam("reviewer_id"),
    )
    values = entering(status, _NOW)
    if status == ItemStatus.DECIDED:
        values.update(outcome=sa.bindparam("new_outcome", type_=_ITEMS.c.outcome.type), decided_at=_NOW)
    return Prebuilt(sa.update(_ITEMS).where(still_held).values(**values))


def decide(
    *,
    session: Session,
    public_id: str,
    reviewer: ReviewerRef,
    data: DecisionCreate,
    now: datetime,
    settings: Settings,
) -> DecideResult:
    """Record a reviewer's verdict on the item they hold, and settle the item if it is final."""
    reason_for(data.verdict, data.reason)  # a reject needs a reason bucket
    # The common case settles in one statement; the rest (errors, the first of two approvals) below.
    row = _settle_held(data.verdict).run(
        session, {"held_public_id": public_id, "reviewer_id": reviewer.id, "now": now}).first()
    if row is not None:
        item = loaded(session, Item, row, refresh=True)  # as the ORM's populate_existing did
        settled, shown_at = True, item.leased_at or now
    else:
        item, settled, shown_at = _settle_or_requeue(
            session=session, public_id=public_id, reviewer=reviewer, verdict=data.verdict, now=now,
            settings=settings,
        )

    decision, review_session = _record_decision(
        session=session, item=item, reviewer=reviewer, data=data,
        shown_at=shown_at, now=now, settings=settings,
    )
    effects = after_decision(
        session=session, item=item, decision=decision, reviewer=reviewer,
        settled=settled, now=now, settings=settings,
    )
    return DecideResult(item=item, decision=decision, settled=settled, effects=effects,
                        review_session=review_session)


def _settle_or_requeue(
    *, session: Session, public_id: str, reviewer: ReviewerRef, verdict: Verdict, now: datetime, settings: Settings
) -> tuple[Item, bool, datetime]:
    """Why the one-statement settle did not apply, or the two-person rule's first approval."""
    item = get_item(session=session, public_id=public_id)
    if item.status != ItemStatus.LEASED or item.lease_holder != reviewer.id:
        if not can_transition(item.status, ItemStatus.DECIDED):
            raise InvalidTransition(f"item is already {item.status.value}", field="id")
        raise LeaseLost("this item is no longer yours; take the next one", field="id")
    if item.deadline is not None and item.deadline <= now:
        refuse_late_verdict(session=session, item=item, reviewer_id=reviewer.id, verdict=Verdict(verdict).value,
                            now=now, settings=settings)
    approvers_before = 0
    if item.required_approvals > 1:  # a reviewer approving again is not a second person
        approvers_before = other_approvers(session=session, item_id=item.id, reviewer_id=reviewer.id)
    settled = verdict == Verdict.REJECT or approvers_before + 1 >= item.required_approvals
    shown_at = item.leased_at or now
    status = ItemStatus.DECIDED if settled else ItemStatus.QUEUED
    check(item.status, status)
    values = entering(status, now)
    params = {"item_id": item.id, "reviewer_id": reviewer.id, "now": now}
    if settled:
        values.update(outcome=outcome_for(verdict, item.kind), decided_at=now)
        params["new_outcome"] = values["outcome"]
    if _move_held(status).run(session, params).rowcount != 1:
        raise LeaseLost("this item was decided or taken by someone else", field="id")
    set_loaded(item, **values)
    return item, settled, shown_at


_DECISIONS = Decision.__table__
_INSERT_DECISION = Prebuilt(sa.insert(_DECISIONS).returning(_DECISIONS.c.id))




def _record_decision(
    *,
    session: Session,
    item: Item,
    reviewer: ReviewerRef,
    data: DecisionCreate,
    shown_at: datetime,
    now: datetime,
    settings: Settings,
) -> tuple[Decision, ReviewSession]:
    clocked = clock_decision(session=session, reviewer_id=reviewer.id, shown_at=shown_at,
                             client_active_ms=data.active_ms, now=now, settings=settings)
    timing = clocked.timing
    decision = Decision(
        item_id=item.id,
        reviewer_id=reviewer.id,
        verdict=data.verdict,
        reason=data.reason,
        note=data.note,
        shown_at=shown_at,
        decided_at=now,
        active_ms=timing.active_ms,
        server_ms=timing.server_ms,
        review_session_id=clocked.review_session.id,
        minutes_into_session=clocked.placement.minutes_into_session,
        tool_digest=shown_tool_digest(item),
        active_source=timing.source,
    )
    # A prebuilt INSERT instead of a flush, then the object joins the session as already stored.
    stored(session, decision, _INSERT_DECISION.run(session, column_values(decision)).scalar_one())
    return decision, clocked.review_session
