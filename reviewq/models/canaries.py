"""Injections: which items are planted canaries or known-good controls, kept apart from items.

Nothing in the items table marks a canary; only this table, which reviewers can never reach,
says which item was planted for whom, why it is wrong, and how the reviewer did.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class InjectionKind(str, Enum):
    CANARY = "canary"  # known bad: the right verdict is reject
    CONTROL = "control"  # known good: the right verdict is approve


class InjectionSource(str, Enum):
    PROJECTION = "projection"  # an unsampled output (the reservoir) with one planted fault
    MUTATION = "mutation"  # a real item decided by another reviewer, with one planted fault
    LIBRARY = "library"  # rendered from a canaries/*.toml entry, bound to a live agent and category
    CONTROL = "control"  # a real item approved by two reviewers (or a lead), re-served unchanged


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
        # Reservoir sources are not items: they are named agent:trace_id, and never reused either.
        sa.UniqueConstraint("reviewer_id", "source_ref", name="uq_injections_reviewer_ref"),
        sa.Index("ix_injections_reviewer_outcome", "reviewer_id", "outcome", "decided_at"),
        sa.Index("ix_injections_week", "week_start", "outcome"),
        # How often each candidate source was planted, for anyone (projection_sources.least_used_first).
        sa.Index("ix_injections_source_ref", "source_ref"),
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
    # "agent:trace_id" of the source (reservoir output or item); survives the reservoir's purge.
    source_ref: str | None = Field(default=None, max_length=200)
    # The mutator name, the library entry id, or "replay" for a re-served control: what the
    # stealth audit groups its folds and its per-template AUC by.
    template: str | None = Field(default=None, max_length=128)
    # The payload before the fault was planted: the audit reads the reviewer view without the fault.
    original_payload: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    # Planted during an onboarding drill or a lead's raised rate (revealed at once; see rate.py).
    drill: bool = Field(default=False, nullable=False)
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
    # Set when an upheld dispute removed this item from every score (VIGILANCE.md §7).
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReservoirOutput(SQLModel, table=True):
    """An output that sampling did not queue, kept (bounded, per agent and category, for the source
    window) as a source for projected canaries: nobody was or will be served it (DESIGN.md "Canaries")."""

    __tablename__ = "reservoir_outputs"
    __table_args__ = (sa.Index("ix_reservoir_slot", "agent", "category", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    agent: str = Field(max_length=64, nullable=False)
    category: str = Field(max_length=64, nullable=False)
    trace_id: str = Field(max_length=128, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class CanaryBudget(SQLModel, table=True):
    """One reviewer's planted items for one week, set (with jitter) by the weekly job; projection
    spends it over the reviewer's active time."""

    __tablename__ = "canary_budgets"
    __table_args__ = (sa.UniqueConstraint("reviewer_id", "week_start", name="uq_canary_budgets_week"),)

    id: int | None = Field(default=None, primary_key=True)
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    week_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    canaries: int = Field(nullable=False)
    controls: int = Field(nullable=False)
    # Claims the reviewer is expected to make this week (their recent pace), over which it is spent.
    expected_claims: int = Field(nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class CanaryRateBoost(SQLModel, table=True):
    """A lead's raised canary rate for one reviewer, for a while (the rate as a control surface)."""

    __tablename__ = "canary_rate_boosts"
    __table_args__ = (sa.Index("ix_canary_rate_boosts_reviewer", "reviewer_id", "ends_at"),)

    id: int | None = Field(default=None, primary_key=True)
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    # Canary probability per claim while the boost runs (instead of the budget's pace).
    probability: float = Field(nullable=False)
    starts_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    ends_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Reveal each planted item at once with its explanation (a drill), whatever [canaries] reveal says.
    drill: bool = Field(default=False, nullable=False)
    reason: str = Field(default="", sa_type=sa.Text, nullable=False)
    created_by: str = Field(max_length=64, nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
