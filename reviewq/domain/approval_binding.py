"""Approvals bound to one exact tool call: the digest each decision carries, and its validity window.

A reviewer approves the call they were shown; its digest (reviewq.tool_digest) is stored with
the approval and with every decision on it. Spending it once is approval_consume.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.lean_sql import Prebuilt
from reviewq.models import Approval, Decision, Item, ItemKind, Outcome, User
from reviewq.models.approvals import DecisionRecord
from reviewq.tool_digest import tool_call_digest


def shown_tool_digest(item: Item) -> str | None:
    """The digest of the tool call in an approval item's payload (what the reviewer saw)."""
    if item.kind != ItemKind.APPROVAL:
        return None
    call = (item.payload or {}).get("tool_call")
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    try:
        return tool_call_digest(call["name"], call.get("args") or {})
    except ValueError:
        return None


def valid_until(*, item: Item, approval: Approval | None) -> datetime | None:
    """End of the window in which an approved call may be consumed; None unless approved."""
    if approval is None or item.outcome != Outcome.APPROVE or item.decided_at is None:
        return None
    if approval.valid_for_s is None:
        return None
    return item.decided_at + timedelta(seconds=approval.valid_for_s)


# Built once: every waiter woken by a decision reads its approval's decisions through this.
_DECISION_RECORDS = Prebuilt(
    select(User.name, Decision.verdict, Decision.tool_digest, Decision.decided_at)
    .join(User, User.id == Decision.reviewer_id)
    .where(Decision.item_id == sa.bindparam("item_id"))
    .order_by(Decision.decided_at, Decision.id)
)


def decision_records(*, session: Session, item_id: int) -> list[DecisionRecord]:
    """Who decided this item, on which digest, when; oldest first."""
    rows = _DECISION_RECORDS.run(session, {"item_id": item_id}).all()
    return [
        DecisionRecord(approver=name, verdict=getattr(verdict, "value", verdict), tool_digest=digest,
                       decided_at=decided_at)
        for name, verdict, digest, decided_at in rows
    ]
