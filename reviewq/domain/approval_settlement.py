"""What an agent sees of an approval, and what follows when one settles.

Settling means decided (by the last required reviewer), expired or cancelled. Every path
calls `on_approval_settled` in its own transaction: it writes the webhook outbox row and
arranges the waiters' wake-up for after the commit. Items with no approval record (planted
canaries) produce neither: a canary never reaches an agent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from reviewq.domain.approval_binding import decision_records, valid_until
from reviewq.domain.reviewer import approvals_given
from reviewq.domain.wakeups import announce_settled
from reviewq.domain.webhooks import EVENT_APPROVAL_DECIDED, enqueue_delivery
from reviewq.models import (
    OPEN_STATUSES,
    Approval,
    Decision,
    Item,
    ItemStatus,
    Outcome,
    Verdict,
)
from reviewq.models.approvals import ApprovalCounts, ApprovalPublic

SETTLED = frozenset({"approved", "denied", "expired", "cancelled"})


def agent_status(item: Item) -> str:
    status = ItemStatus(item.status)
    if status in OPEN_STATUSES:
        return "pending"
    if status == ItemStatus.DECIDED:
        return "approved" if item.outcome == Outcome.APPROVE else "denied"
    return status.value  # expired, cancelled


def approval_public(*, session: Session, item: Item) -> ApprovalPublic:
    given = approvals_given(session=session, item_id=item.id)
    status = agent_status(item)
    reason = note = None
    if status == "denied":
        last_reject = session.exec(
            select(Decision.reason, Decision.note)
            .where(Decision.item_id == item.id, Decision.verdict == Verdict.REJECT)
            .order_by(Decision.decided_at.desc())
            .limit(1)
        ).first()
        if last_reject is not None:
            reason, note = last_reject
    payload = item.payload or {}
    approval = approval_record(session=session, item_id=item.id)
    return ApprovalPublic(
        id=item.public_id,
        trace_id=item.trace_id,
        intent=str(payload.get("intent", item.category)),
        irreversible=bool(payload.get("irreversible", False)),
        status=status,
        outcome=item.outcome.value if item.outcome else None,
        reason=reason.value if reason is not None and hasattr(reason, "value") else reason,
        note=note or None,
        tool_digest=approval.tool_digest if approval is not None else None,
        approvals=ApprovalCounts(required=item.required_approvals, given=given),
        created_at=item.created_at,
        deadline=item.deadline or item.created_at,
        decided_at=item.decided_at,
        valid_until=valid_until(item=item, approval=approval),
        consumed_at=approval.consumed_at if approval is not None else None,
        decisions=decision_records(session=session, item_id=item.id) if status != "pending" or given else [],
    )


def approval_record(*, session: Session, item_id: int) -> Approval | None:
    return session.exec(select(Approval).where(Approval.item_id == item_id)).first()


def on_approval_settled(*, session: Session, item: Item, now: datetime) -> Approval | None:
    """Outbox row and wake-up for a settled approval item; nothing for an item without a record."""
    approval = approval_record(session=session, item_id=item.id)
    if approval is None:
        return None
    if approval.callback_url:
        data = approval_public(session=session, item=item).model_dump(mode="json")
        enqueue_delivery(
            session=session, item_id=item.id, token_id=approval.token_id, url=approval.callback_url,
            event_type=EVENT_APPROVAL_DECIDED, data=data, now=now,
        )
    announce_settled(session=session, public_id=item.public_id)
    return approval
