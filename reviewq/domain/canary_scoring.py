"""Scoring a decision on a planted item, and the reveal that follows it (the fire drill).

Runs inside the decision's transaction (called from effects.after_decision), so a verdict and
its scoring land together. The reveal is only *returned* here; the screen shows it after the
commit, so it cannot change the measurement (VIGILANCE.md §1, artificial signals + feedback).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.reviewer import ReviewerRef
from reviewq.domain.transitions import set_status
from reviewq.models import (
    Decision,
    Injection,
    InjectionKind,
    InjectionOutcome,
    Item,
    ItemStatus,
    ReviewSession,
    Verdict,
)

CONTROL_EXPLANATION = "This was a known-good item, planted to measure false alarms: the right verdict was approve."


_INJECTION_BY_ITEM = select(Injection).where(Injection.item_id == sa.bindparam("item_id"))


def may_be_planted(item: Item) -> bool:
    """Only planted items are assigned to one reviewer (injection.py), so others need no lookup."""
    return item.assigned_to is not None


def injection_for_item(*, session: Session, item_id: int) -> Injection | None:
    # Runs on every decision: the statement is built once.
    return session.scalars(_INJECTION_BY_ITEM, {"item_id": item_id}).first()


def injection_outcome(kind: InjectionKind, verdict: Verdict) -> InjectionOutcome:
    """Signal-detection cell of one verdict (VIGILANCE.md §2): hit, miss, false alarm, correct."""
    if kind == InjectionKind.CANARY:
        return InjectionOutcome.CAUGHT if verdict == Verdict.REJECT else InjectionOutcome.MISSED
    return InjectionOutcome.FALSE_ALARM if verdict == Verdict.REJECT else InjectionOutcome.CORRECT


def score_decision(
    *,
    session: Session,
    item: Item,
    decision: Decision,
    reviewer: ReviewerRef,
    now: datetime,
    settings: Settings,
) -> dict[str, Any] | None:
    """Score the planted item this decision was on; return the reveal to show, if any.

    Real items (no injection row) and decisions by anyone but the target are left alone.
    """
    if not may_be_planted(item):
        return None
    injection = injection_for_item(session=session, item_id=item.id)
    if injection is None or injection.reviewer_id != reviewer.id:
        return None
    if injection.outcome != InjectionOutcome.PENDING:
        return None
    injection.outcome = injection_outcome(injection.kind, decision.verdict)
    injection.diagnosed = (
        injection.outcome == InjectionOutcome.CAUGHT
        and decision.reason is not None
        and injection.bucket is not None
        and getattr(decision.reason, "value", decision.reason) == injection.bucket
    )
    injection.decision_id = decision.id
    injection.decided_at = decision.decided_at
    injection.minutes_into_session = decision.minutes_into_session
    injection.active_ms = decision.active_ms
    session.add(injection)
    session.flush()
    # An approval under the two-person rule goes back to the queue after the first approve; a
    # planted one is assigned to this reviewer alone and must not linger there.
    if item.status == ItemStatus.QUEUED:
        set_status(session=session, item=item, status=ItemStatus.EXPIRED, now=now)
    # A drill (onboarding, or a lead's drill boost) reveals at once whatever the configured mode.
    if settings.canaries.reveal == "immediate" or injection.drill:
        return reveal(session=session, injection=injection, item=item, reviewer=reviewer, now=now)
    return None


def reveal_payload(injection: Injection) -> dict[str, Any]:
    explanation = injection.explanation
    if injection.kind == InjectionKind.CONTROL and not explanation:
        explanation = CONTROL_EXPLANATION
    return {
        "kind": injection.kind.value,
        "outcome": injection.outcome.value,
        "bucket": injection.bucket,
        "explanation": explanation,
    }


def reveal(
    *, session: Session, injection: Injection, item: Item, reviewer: ReviewerRef, now: datetime
) -> dict[str, Any]:
    """Mark an injection revealed (with an audit event) and return what the reviewer sees."""
    injection.revealed_at = now
    session.add(injection)
    session.flush()
    payload = reveal_payload(injection)
    record_event(
        session=session,
        actor=user_actor(reviewer.name),
        action="canary.revealed",
        object_type="item",
        object_id=item.public_id,
        now=now,
        details={"kind": payload["kind"], "outcome": payload["outcome"], "bucket": payload["bucket"]},
    )
    return payload


def session_has_ended(*, session: Session, reviewer_id: int, now: datetime, gap_minutes: int) -> bool:
    """True when the reviewer's latest review session is over (no activity for the gap)."""
    latest = session.exec(
        select(sa.func.max(ReviewSession.last_activity_at)).where(ReviewSession.reviewer_id == reviewer_id)
    ).one()
    return latest is None or now - latest >= timedelta(minutes=gap_minutes)


def unrevealed_for(*, session: Session, reviewer_id: int) -> list[tuple[Injection, Item]]:
    """Decided, not yet revealed injections of one reviewer, oldest decision first."""
    rows = session.exec(
        select(Injection, Item)
        .join(Item, Item.id == Injection.item_id)
        .where(
            Injection.reviewer_id == reviewer_id,
            Injection.revealed_at.is_(None),
            Injection.decided_at.is_not(None),
            Injection.outcome.in_(
                [
                    InjectionOutcome.CAUGHT,
                    InjectionOutcome.MISSED,
                    InjectionOutcome.FALSE_ALARM,
                    InjectionOutcome.CORRECT,
                ]
            ),
        )
        .order_by(Injection.decided_at, Injection.id)
    ).all()
    return list(rows)


def due_reveals(
    *, session: Session, reviewer: ReviewerRef, now: datetime, settings: Settings
) -> list[dict[str, Any]]:
    """For reveal = "end_of_session": once the reviewer's session has ended, reveal (and audit)
    every decided injection not yet revealed, and return them for the /me page.

    Returns [] in the other modes, and while the session is still running. Writes; the caller
    commits.
    """
    if settings.canaries.reveal != "end_of_session":
        return []
    if not session_has_ended(
        session=session, reviewer_id=reviewer.id, now=now,
        gap_minutes=settings.vigilance.session_gap_minutes,
    ):
        return []
    out = []
    for injection, item in unrevealed_for(session=session, reviewer_id=reviewer.id):
        payload = reveal(session=session, injection=injection, item=item, reviewer=reviewer, now=now)
        payload["decided_at"] = injection.decided_at
        out.append(payload)
    return out
