"""What an agent sees of an approval, and what follows when one settles.

Settling means decided (by the last required reviewer), expired or cancelled. Every path
calls `on_approval_settled` in its own transaction: it writes the webhook outbox row and
arranges the waiters' wake-up for after the commit. Items with no approval record (planted
canaries) produce neither: a canary never reaches an agent.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.approval_binding import decision_records, valid_until
from reviewq.domain.audit import SYSTEM_ACTOR, record_event
from reviewq.domain.errors import DeadlinePassed, InvalidTransition
from reviewq.domain.reviewer import approvals_given
from reviewq.domain.transitions import entering, guard
from reviewq.domain.wakeups import announce_settled, hub
from reviewq.domain.webhooks import EVENT_APPROVAL_DECIDED, enqueue_delivery
from reviewq.lean_sql import Prebuilt, loaded
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


# Built once and run off the bare cursor (lean_sql.py): every waiter woken by a decision reads its
# approval through these, and every settled approval reads its record to learn where to call back.
_LAST_REJECT = Prebuilt(
    select(Decision.reason, Decision.note)
    .where(Decision.item_id == sa.bindparam("item_id"), Decision.verdict == Verdict.REJECT)
    .order_by(Decision.decided_at.desc())
    .limit(1)
)
_APPROVAL_ROW = Prebuilt(select(*Approval.__table__.columns).where(Approval.item_id == sa.bindparam("item_id")))


def approval_public(*, session: Session, item: Item, approval: Approval | None = None) -> ApprovalPublic:
    """What the agent sees; `approval`: the item's record when the caller has just read it."""
    given = approvals_given(session=session, item_id=item.id)
    status = agent_status(item)
    reason = note = None
    if status == "denied":
        last_reject = _LAST_REJECT.run(session, {"item_id": item.id}).first()
        if last_reject is not None:
            reason, note = last_reject
    payload = item.payload or {}
    if approval is None:
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
    """The item's approval record, to read: the session's own object if it holds it, else a snapshot."""
    row = _APPROVAL_ROW.run(session, {"item_id": item_id}).first()
    return None if row is None else loaded(session, Approval, row)


def on_approval_settled(*, session: Session, item: Item, now: datetime) -> Approval | None:
    """Outbox row and wake-up for a settled approval item; nothing for an item without a record."""
    approval = approval_record(session=session, item_id=item.id)
    if approval is None:
        return None
    # The agent's view, built once for the webhook and for this process's parked waiters, who
    # answer with it instead of each reading it back after the commit (on SQLite that read ran on
    # the event loop that also serves every reviewer's queue call).
    public = None
    if approval.callback_url or hub.waited_on_a_loop(item.public_id):
        public = approval_public(session=session, item=item, approval=approval)
    if approval.callback_url:
        enqueue_delivery(
            session=session, item_id=item.id, token_id=approval.token_id, url=approval.callback_url,
            event_type=EVENT_APPROVAL_DECIDED, data=public.model_dump(mode="json"), now=now,
        )
    announce_settled(session=session, public_id=item.public_id, answer=public)
    return approval


def timeout_outcome(intent: str, settings: Settings) -> Outcome:
    """Fail closed: deny, unless config names this intent as approved on timeout."""
    return Outcome.APPROVE if intent in settings.approvals.approve_on_timeout_intents else Outcome.DENY


def expire_open(*, session: Session, item: Item, now: datetime, settings: Settings,
                details: dict | None = None) -> Outcome | None:
    """Expire an open approval item with its timeout outcome; None if it had already settled.

    The one way an approval times out, whether the expiry job finds it or a verdict arrives too
    late: conditional on the item still being open, so it cannot overwrite a decision.
    """
    outcome = timeout_outcome(str((item.payload or {}).get("intent", item.category)), settings)
    won = session.execute(
        sa.update(Item)
        .where(Item.id == item.id, guard(ItemStatus.EXPIRED, *OPEN_STATUSES))
        .values(**entering(ItemStatus.EXPIRED, now), outcome=outcome, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return None
    session.refresh(item)
    record_event(session=session, actor=SYSTEM_ACTOR, action="approval.expired", object_type="item",
                 object_id=item.public_id, now=now, details={"outcome": outcome.value, **(details or {})})
    on_approval_settled(session=session, item=item, now=now)
    return outcome


def refuse_late_verdict(*, session: Session, item: Item, reviewer_id: int, verdict: str, now: datetime,
                        settings: Settings) -> None:
    """A verdict after the deadline does not count: the approval expires here and now (fail closed).

    Whether or not the expiry job has run yet, the deciding transaction itself settles the item
    with its timeout outcome (deny unless configured) and raises DeadlinePassed for the caller to
    commit and report. The same holds for each approver under the two-person rule.
    """
    late_by = (now - item.deadline).total_seconds()
    outcome = expire_open(session=session, item=item, now=now, settings=settings,
                          details={"late_verdict": verdict, "reviewer_id": reviewer_id, "late_by_s": round(late_by, 3)})
    if outcome is None:  # settled meanwhile by someone else
        raise InvalidTransition(f"item is already {ItemStatus(item.status).value}", field="id")
    settled_as = "approved" if outcome == Outcome.APPROVE else "denied"
    raise DeadlinePassed(
        f"too late: this approval's deadline passed {late_by:.0f} s before your verdict, so it expired and was "
        f"{settled_as} (its timeout outcome); your verdict was not recorded",
        outcome=outcome.value,
    )
