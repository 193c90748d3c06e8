"""What a long-poll on an approval re-reads each time it wakes, failing closed at the deadline.

Each check is its own short transaction. An approval still pending once its deadline has
passed is expired by the check itself (deny, unless configured otherwise), in the same way
and with the same outbox row and wake-ups as the expiry job: a waiter sees the fail-closed
answer at the deadline, not up to [approvals] expiry_interval_s later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.approval_settlement import approval_public
from reviewq.domain.approvals import agent_item, expire_due
from reviewq.models import ApiToken, ItemKind, utcnow
from reviewq.models.approvals import ApprovalPublic
from reviewq.web.json_responses import json_bytes


@dataclass(frozen=True, slots=True)
class AgentRef:
    """The caller's token as agent_item reads it (its agent), without a detached ORM object."""

    id: int
    agent: str


def approval_state(*, database: Database, settings: Settings, token: ApiToken | AgentRef, public_id: str,
                   now: datetime) -> tuple[bool, ApprovalPublic]:
    """(settled?, what the agent sees); raises NotFound for another agent's or an unknown id."""
    with database.session(readonly=True) as session:
        item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL, snapshot=True)
        item_id = item.id
        public = approval_public(session=session, item=item)
        session.rollback()
    if public.status == "pending" and public.deadline <= now:
        with database.session_scope() as session:
            expire_due(session=session, now=now, settings=settings, item_id=item_id)
        with database.session(readonly=True) as session:
            item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL,
                              snapshot=True)
            public = approval_public(session=session, item=item)
            session.rollback()
    return public.status != "pending", public


def settles_in(public: ApprovalPublic) -> float | None:
    """Seconds until a pending approval's deadline (when it expires by itself)."""
    if public.status != "pending":
        return None
    return (public.deadline - utcnow()).total_seconds()


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """One waiter's re-read (`approval_state` with what it needs), kept while it is parked."""

    database: Database
    settings: Settings
    token: AgentRef
    public_id: str
    clock: Callable[[], datetime]

    def __call__(self) -> tuple[bool, ApprovalPublic]:
        return approval_state(database=self.database, settings=self.settings, token=self.token,
                              public_id=self.public_id, now=self.clock())

    def answer(self) -> tuple[bool, ApprovalAnswer]:
        done, public = self()
        return done, ApprovalAnswer.of(public)

    @staticmethod
    def accept(public: ApprovalPublic) -> tuple[bool, ApprovalAnswer]:
        """`answer()` as the settling transaction found it, handed over with the wake-up
        (reviewq.domain.wakeups): the same view, built by the same code, with nothing to read."""
        return public.status != "pending", ApprovalAnswer.of(public)


@dataclass(frozen=True, slots=True)
class ApprovalAnswer:
    """What a long-poll's check found: the approval's JSON and, if pending, its deadline.

    A parked waiter keeps only the deadline (`lean`): it may be one of 10,000 (issue 11).
    """

    body: bytes
    pending_until: datetime | None

    @classmethod
    def of(cls, public: ApprovalPublic) -> ApprovalAnswer:
        return cls(json_bytes(public.model_dump(mode="json")), public.deadline if public.status == "pending" else None)

    def lean(self) -> ApprovalAnswer:
        """What a parked waiter keeps: the deadline, not the JSON (10,000 x 480 bytes; the wait
        checks again before it answers)."""
        return ApprovalAnswer(b"", self.pending_until)

    def render(self) -> bytes:
        return self.body

    def settles_in(self) -> float | None:
        """Seconds until a pending approval's deadline (when it expires by itself)."""
        if self.pending_until is None:
            return None
        return (self.pending_until - utcnow()).total_seconds()
