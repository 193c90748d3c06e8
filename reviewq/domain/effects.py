"""What follows a reviewer's decision inside the same transaction.

Every consequence of a verdict is written here, before the request's one commit, so a
decision, its audit event, its canary scoring and its webhook delivery row land together or
not at all. Each capability adds its step below, in this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.approval_settlement import on_approval_settled
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.canary_scoring import score_decision
from reviewq.domain.overlap import route_overlap
from reviewq.domain.reviewer import ReviewerRef
from reviewq.domain.rollups import record_decision as record_rollup
from reviewq.models import Decision, Item, ItemKind


@dataclass
class DecisionEffects:
    """What the reviewer's screen may learn after the commit (the canary reveal, if due)."""

    reveal: dict[str, Any] | None = None


def after_decision(
    *,
    session: Session,
    item: Item,
    decision: Decision,
    reviewer: ReviewerRef,
    settled: bool,
    now: datetime,
    settings: Settings,
) -> DecisionEffects:
    effects = DecisionEffects()
    record_event(
        session=session,
        actor=user_actor(reviewer.name),
        action="item.decided" if settled else "item.approved_first_of_two",
        object_type="item",
        object_id=item.public_id,
        now=now,
        details={
            "verdict": decision.verdict.value,
            "reason": getattr(decision.reason, "value", decision.reason),
        },
    )
    # Canary scoring: a planted item's outcome, and its reveal if [canaries] reveal = immediate.
    effects.reveal = score_decision(
        session=session, item=item, decision=decision, reviewer=reviewer, now=now, settings=settings
    )
    # Dashboard rollups (time on task, approval waits), so the dashboard never scans decisions.
    record_rollup(session=session, item=item, decision=decision, settled=settled)
    # The agent's side of a settled approval: webhook outbox row and waiter wake-up (none for canaries).
    if settled and item.kind == ItemKind.APPROVAL:
        on_approval_settled(session=session, item=item, now=now)
    # Overlap: a share of real outputs also goes to a second, blind reviewer (VIGILANCE.md §8).
    route_overlap(session=session, item=item, reviewer=reviewer, settled=settled, now=now, settings=settings.overlap)
    return effects
