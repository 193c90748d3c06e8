"""Disputes of planted items, and the canary templates and mutators retired by them (VIGILANCE.md §7).

After a reveal a reviewer may say a planted item was not actually wrong (or, for a known-good
control, that it was). A lead upholds or rejects the dispute; an upheld one voids the item from
everyone's scores and retires its template or mutator so it is never planted again.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class DisputeStatus(str, Enum):
    OPEN = "open"
    UPHELD = "upheld"
    REJECTED = "rejected"


# Only an open dispute moves, once, to upheld or rejected.
DISPUTE_TRANSITIONS: dict[DisputeStatus, frozenset[DisputeStatus]] = {
    DisputeStatus.OPEN: frozenset({DisputeStatus.UPHELD, DisputeStatus.REJECTED}),
    DisputeStatus.UPHELD: frozenset(),
    DisputeStatus.REJECTED: frozenset(),
}


class Dispute(SQLModel, table=True):
    __tablename__ = "disputes"
    __table_args__ = (sa.Index("ix_disputes_status", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=32, sa_column_kwargs={"unique": True}, nullable=False)
    # One dispute per planted item.
    injection_id: int = Field(foreign_key="injections.id", nullable=False, sa_column_kwargs={"unique": True})
    reviewer_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    note: str = Field(sa_type=sa.Text, nullable=False)
    status: DisputeStatus = Field(
        default=DisputeStatus.OPEN, sa_type=str_enum(DisputeStatus, 16), nullable=False
    )
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: int | None = Field(default=None, foreign_key="users.id")
    resolution_note: str = Field(default="", sa_type=sa.Text, nullable=False)


class RetiredTemplate(SQLModel, table=True):
    """A library entry ("library:<id>") or mutator ("mutator:<name>") never to be planted again."""

    __tablename__ = "retired_templates"

    key: str = Field(max_length=200, primary_key=True)
    retired_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    dispute_id: int | None = Field(default=None, foreign_key="disputes.id")
    reason: str = Field(default="", sa_type=sa.Text, nullable=False)
