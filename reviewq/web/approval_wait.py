"""What a long-poll on an approval re-reads each time it wakes, failing closed at the deadline.

Each check is its own short transaction. An approval still pending once its deadline has
passed is expired by the check itself (deny, unless configured otherwise), in the same way
and with the same outbox row and wake-ups as the expiry job: a waiter sees the fail-closed
answer at the deadline, not up to [approvals] expiry_interval_s later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.approval_settlement import approval_public
from reviewq.domain.approvals import agent_item, expire_due
from reviewq.models import ApiToken, ItemKind, utcnow
from reviewq.models.approvals import ApprovalPublic


@dataclass(frozen=True, slots=True)
class AgentRef:
    """The caller's token as agent_item reads it (its agent), without a detached ORM object."""

    id: int
    agent: str


def approval_state(*, database: Database, settings: Settings, token: ApiToken | AgentRef, public_id: str,
                   now: datetime) -> tuple[bool, ApprovalPublic]:
    """(settled?, what the agent sees); raises NotFound for another agent's or an unknown id."""
    with database.session(readonly=True) as session:
        item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL)
        item_id = item.id
        public = approval_public(session=session, item=item)
        session.rollback()
    if public.status == "pending" and public.deadline <= now:
        with database.session_scope() as session:
            expire_due(session=session, now=now, settings=settings, item_id=item_id)
        with database.session(readonly=True) as session:
            item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL)
            public = approval_public(session=session, item=item)
            session.rollback()
    return public.status != "pending", public


def settles_in(public: ApprovalPublic) -> float | None:
    """Seconds until a pending approval's deadline (when it expires by itself)."""
    if public.status != "pending":
        return None
    return (public.deadline - utcnow()).total_seconds()
