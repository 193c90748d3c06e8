"""A lead overturns an item's label: a required note, an audit event, and nothing else changes.

The item's outcome stays what the agent was told (an approval may already have been acted on,
which the overturn records), and a planted item's canary score stays with the reviewer's own
decision: voiding a score is a dispute's job, never a side effect of relabelling.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import InvalidTransition, ValidationFailed
from reviewq.domain.items import get_item
from reviewq.domain.reasons import reason_for
from reviewq.domain.reviewer import ReviewerRef
from reviewq.models import Decision, Item, ItemKind, ItemStatus, Outcome, Overturn, Verdict

MAX_NOTE = 2000


def verdict_of(outcome: Outcome | str | None) -> Verdict | None:
    """The verdict an outcome stands for: a denied approval is a reject."""
    if outcome is None:
        return None
    return Verdict.APPROVE if Outcome(outcome) == Outcome.APPROVE else Verdict.REJECT


def current_label(*, session: Session, item: Item) -> tuple[Verdict | None, str | None]:
    """The item's label now: the latest overturn's, else its outcome's (with the deciding reason)."""
    latest = session.execute(
        sa.select(Overturn.verdict, Overturn.reason).where(Overturn.item_id == item.id)
        .order_by(Overturn.at.desc(), Overturn.id.desc()).limit(1)
    ).first()
    if latest is not None:
        return Verdict(latest.verdict), latest.reason
    reason = session.execute(
        sa.select(Decision.reason).where(Decision.item_id == item.id, Decision.verdict == Verdict.REJECT)
        .order_by(Decision.decided_at.desc(), Decision.id.desc()).limit(1)
    ).scalar()
    verdict = verdict_of(item.outcome)
    return verdict, (getattr(reason, "value", reason) if verdict == Verdict.REJECT else None)


def overturn_item(
    *, session: Session, public_id: str, lead: ReviewerRef, verdict: Verdict, reason: str | None, note: str,
    known_reasons: tuple[str, ...], now: datetime,
) -> Overturn:
    """Record a lead's corrected label for a decided item."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("an overturn needs a note saying why", field="note")
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"a note is at most {MAX_NOTE} characters", field="note")
    verdict = Verdict(verdict)
    reason = reason_for(verdict, reason, known_reasons)
    item = get_item(session=session, public_id=public_id)
    if item.status != ItemStatus.DECIDED:
        raise InvalidTransition(f"only a decided item can be overturned; this one is {ItemStatus(item.status).value}",
                                field="id")
    previous, previous_reason = current_label(session=session, item=item)
    if previous == verdict and previous_reason == reason:
        raise ValidationFailed("that is already the item's label", field="verdict")
    decision_id = session.execute(
        sa.select(Decision.id).where(Decision.item_id == item.id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc()).limit(1)
    ).scalar()
    agent_acted = item.kind == ItemKind.APPROVAL and item.outcome == Outcome.APPROVE
    row = Overturn(
        item_id=item.id, decision_id=decision_id, lead_id=lead.id, previous_verdict=previous, verdict=verdict,
        reason=reason, note=note, agent_acted=agent_acted, at=now,
    )
    session.add(row)
    session.flush()
    record_event(
        session=session, actor=user_actor(lead.name), action="item.overturned", object_type="item",
        object_id=item.public_id, now=now,
        details={"from": previous.value if previous else None, "to": verdict.value, "reason": reason,
                 "note": note, "agent_acted": agent_acted},
    )
    return row
