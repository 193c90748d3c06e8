"""Spending an approval: once, within its validity window, and only on the approved tool call.

The agent consumes an approval with the digest of the call it is about to run. Anything else is
refused, so a "yes" can never run a different call, or the same call twice.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.approval_binding import valid_until
from reviewq.domain.approvals import agent_item
from reviewq.domain.audit import agent_actor, record_event
from reviewq.domain.errors import Conflict
from reviewq.models import ApiToken, Approval, Item, ItemKind, Outcome


class NotApproved(Conflict):
    code = "not_approved"


class DigestMismatch(Conflict):
    code = "digest_mismatch"


class AlreadyConsumed(Conflict):
    code = "already_consumed"


class ApprovalStale(Conflict):
    code = "approval_stale"


def consume_approval(
    *, session: Session, token: ApiToken, public_id: str, tool_digest: str, now: datetime
) -> Item:
    """Spend an approved approval on the call with `tool_digest`; refused if anything differs.

    Refusals (409): not approved (pending, denied, expired, cancelled), another digest, already
    consumed, or past `valid_until`. The winning consume is one conditional UPDATE, so two
    racing agents cannot both run the call.
    """
    item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL)
    approval = session.exec(select(Approval).where(Approval.item_id == item.id)).one()
    if item.outcome != Outcome.APPROVE:
        raise NotApproved(f"approval is {item.status.value} without an approve outcome; do not run the call",
                          field="id")
    if approval.tool_digest is None or approval.tool_digest != tool_digest:
        raise DigestMismatch("this is not the tool call that was approved; do not run it", field="tool_digest")
    if approval.consumed_at is not None:
        raise AlreadyConsumed("this approval was already used; ask again to run the call again", field="id")
    until = valid_until(item=item, approval=approval)
    if until is None or now > until:
        raise ApprovalStale("the approval is no longer valid; ask again", field="id")
    won = session.execute(
        sa.update(Approval)
        .where(Approval.id == approval.id, Approval.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise AlreadyConsumed("this approval was already used; ask again to run the call again", field="id")
    session.refresh(approval)
    record_event(session=session, actor=agent_actor(token.agent), action="approval.consumed", object_type="item",
                 object_id=item.public_id, now=now, details={"tool_digest": tool_digest})
    return item
