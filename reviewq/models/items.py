"""Items to review: sampled agent outputs and approval requests."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class ItemKind(str, Enum):
    OUTPUT = "output"
    APPROVAL = "approval"


class ItemStatus(str, Enum):
    QUEUED = "queued"
    LEASED = "leased"
    DECIDED = "decided"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# The only moves an item may make. Decided, expired and cancelled are final.
# LEASED -> QUEUED covers skip, an expired lease and the first of two approvals.
TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.QUEUED: frozenset(
        {ItemStatus.LEASED, ItemStatus.EXPIRED, ItemStatus.CANCELLED}
    ),
    ItemStatus.LEASED: frozenset(
        {
            ItemStatus.QUEUED,
            ItemStatus.LEASED,  # the lease renewed, or taken over after it ran out
            ItemStatus.DECIDED,
            ItemStatus.EXPIRED,
            ItemStatus.CANCELLED,
        }
    ),
    ItemStatus.DECIDED: frozenset(),
    ItemStatus.EXPIRED: frozenset(),
    ItemStatus.CANCELLED: frozenset(),
}

OPEN_STATUSES = (ItemStatus.QUEUED, ItemStatus.LEASED)


def can_transition(current: ItemStatus | str, target: ItemStatus | str) -> bool:
    return ItemStatus(target) in TRANSITIONS[ItemStatus(current)]


class Outcome(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"  # an output judged wrong
    DENY = "deny"  # an approval refused, by a reviewer or by timeout


class ItemBase(SQLModel):
    kind: ItemKind = Field(sa_type=str_enum(ItemKind, 16), nullable=False)
    trace_id: str = Field(max_length=128, nullable=False)
    agent: str = Field(max_length=64, nullable=False)
    category: str = Field(max_length=64, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    priority: int = Field(default=0, nullable=False)
    deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    not_before: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ItemCreate(ItemBase):
    assigned_to: int | None = None
    required_approvals: int = 1
    dedupe_key: str | None = None
    token_id: int | None = None


class ItemPublic(SQLModel):
    """What an agent may see of its own item."""

    id: str
    kind: ItemKind
    status: ItemStatus
    trace_id: str
    agent: str
    category: str
    outcome: Outcome | None
    created_at: datetime
    decided_at: datetime | None


class Item(ItemBase, table=True):
    __tablename__ = "items"
    __table_args__ = (
        # claim_next's tiers read these in order: approvals by deadline, outputs by age. They end
        # with id, the ORDER BY's tie-breaker, so PostgreSQL reads the first row off the index
        # instead of sorting the whole queue on every claim (SQLite indexes carry the rowid anyway).
        sa.Index("ix_items_claim", "status", "kind", "deadline", "created_at", "id"),
        sa.Index("ix_items_queue_age", "status", "kind", "created_at", "id"),
        # Recently settled items: the dashboard's filters and approval waits.
        sa.Index("ix_items_settled", "status", "outcome", "decided_at"),
        # A slot's recently approved items, newest first: the sources of mutation canaries and
        # controls (projection_sources.py), read inside a claim's write transaction.
        sa.Index("ix_items_slot", "agent", "category", "kind", "status", "outcome", "decided_at"),
        sa.Index("ix_items_assigned", "assigned_to", "status", "not_before"),
        # An agent's newest items: its value bank (projection_sources.bank_items), rebuilt every
        # minute; without it a busy agent's whole window was read and sorted (91 ms at 300,000).
        sa.Index("ix_items_agent_created", "agent", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The only id that leaves the database: random, so nothing can be read from it.
    public_id: str = Field(max_length=32, sa_column_kwargs={"unique": True}, nullable=False)
    status: ItemStatus = Field(default=ItemStatus.QUEUED, sa_type=str_enum(ItemStatus, 16), nullable=False)
    outcome: Outcome | None = Field(default=None, sa_type=str_enum(Outcome, 16))
    # Approvals needed before an approval counts: 2 under the two-person rule.
    required_approvals: int = Field(default=1, nullable=False)
    assigned_to: int | None = Field(default=None, foreign_key="users.id")
    lease_holder: int | None = Field(default=None, foreign_key="users.id")
    leased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Agent-scoped key that makes a resubmission return the first item (trace or idempotency).
    dedupe_key: str | None = Field(default=None, max_length=200, sa_column_kwargs={"unique": True})
    token_id: int | None = Field(default=None, foreign_key="api_tokens.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    def to_public(self) -> ItemPublic:
        return ItemPublic(
            id=self.public_id,
            kind=self.kind,
            status=self.status,
            trace_id=self.trace_id,
            agent=self.agent,
            category=self.category,
            outcome=self.outcome,
            created_at=self.created_at,
            decided_at=self.decided_at,
        )
