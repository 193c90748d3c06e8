"""Injections: which items are planted canaries or known-good controls, kept apart from items.

Nothing in the items table marks a canary; only this table, which reviewers can never reach,
says which item was planted for whom, why it is wrong, and how the reviewer did.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class InjectionKind(str, Enum):
    CANARY = "canary"  # known bad: the right verdict is reject
    CONTROL = "control"  # known good: the right verdict is approve


class InjectionSource(str, Enum):
    LIBRARY = "library"  # rendered from a canaries/*.toml entry
    MUTATION = "mutation"  # a real recent item with one planted fault


class InjectionOutcome(str, Enum):
    PENDING = "pending"  # planted, not decided yet
    CAUGHT = "caught"  # canary rejected (a hit)
    MISSED = "missed"  # canary approved (a miss)
    FALSE_ALARM = "false_alarm"  # control rejected
    CORRECT = "correct"  # control approved (a correct rejection, in SDT terms)
    EXPIRED = "expired"  # not shown by the week's end; counts as neither


class Injection(SQLModel, table=True):
    __tablename__ = "injections"
    __table_args__ = (
        # A reviewer never gets the same library entry or the same source item twice.
        sa.UniqueConstraint("reviewer_id", "library_entry_id", name="uq_injections_reviewer_entry"),
        sa.UniqueConstraint("reviewer_id", "source_item_id", name="uq_injections_reviewer_source"),
        sa.Index("ix_injections_reviewer_outcome", "reviewer_id", "outcome", "decided_at"),
        sa.Index("ix_injections_week", "week_start", "outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False, sa_column_kwargs={"unique": True})
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    kind: InjectionKind = Field(sa_type=str_enum(InjectionKind, 16), nullable=False)
    source: InjectionSource = Field(sa_type=str_enum(InjectionSource, 16), nullable=False)
    # The failure bucket planted (a ReasonBucket value, or a library's own); None for controls.
    bucket: str | None = Field(default=None, max_length=64)
    library_entry_id: str | None = Field(default=None, max_length=128)
    source_item_id: int | None = Field(default=None, foreign_key="items.id")
    # Shown to the reviewer on reveal.
    explanation: str = Field(default="", sa_type=sa.Text, nullable=False)
    # Monday 00:00 (in the configured timezone, stored as UTC) of the injection week.
    week_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    scheduled_for: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    outcome: InjectionOutcome = Field(
        default=InjectionOutcome.PENDING, sa_type=str_enum(InjectionOutcome, 16), nullable=False
    )
    # A caught canary whose reject bucket matched the planted one.
    diagnosed: bool = Field(default=False, nullable=False)
    # Copied from the decision when scored, so dashboard queries never scan all decisions.
    decision_id: int | None = Field(default=None, foreign_key="decisions.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    minutes_into_session: float | None = Field(default=None)
    active_ms: int | None = Field(default=None)
    revealed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The mutator name, the library entry id, or "replay" for a re-served control: the key of a
    # planted item's difficulty (VIGILANCE.md §7) and of its retirement. Issue 12 adds the same column.
    template: str | None = Field(default=None, max_length=128)
    # Set when an upheld dispute removed this item from every score (§7).
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
