"""The lead's workbench: overturns, overlap (second blind reviews) and agents' own judge verdicts.

None of these tables is ever read on the reviewer's path: an overlap copy looks like any item,
and a judge verdict is never shown to the people it is compared with.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.audit import AuditEvent
from reviewq.models.common import UTCDateTime, str_enum
from reviewq.models.decisions import Verdict
from reviewq.models.items import Item

# The items browser's keyset sorts (reviewq/stats/item_search.py): newest created or decided first.
# Declared here rather than in items.py, which belongs to the queue.
sa.Index("ix_items_created", Item.created_at, Item.id)
sa.Index("ix_items_decided", Item.decided_at, Item.id)
# A trace id is looked up across agents. The only index keyed by trace: each index keyed by a
# random value costs every insert a page (migration 0014).
sa.Index("ix_items_trace", Item.trace_id)
# An item's page reads its history from the audit log by object.
sa.Index("ix_audit_events_object", AuditEvent.object_type, AuditEvent.object_id)


class Overturn(SQLModel, table=True):
    """A lead's correction of an item's label. The item's outcome (what the agent was told) and
    any canary score stay as they were; the corrected label is read from here."""

    __tablename__ = "overturns"
    __table_args__ = (sa.Index("ix_overturns_item", "item_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False)
    decision_id: int | None = Field(default=None, foreign_key="decisions.id")
    lead_id: int = Field(foreign_key="users.id", nullable=False)
    previous_verdict: Verdict | None = Field(default=None, sa_type=str_enum(Verdict, 16))
    verdict: Verdict = Field(sa_type=str_enum(Verdict, 16), nullable=False)
    reason: str | None = Field(default=None, max_length=64)
    note: str = Field(sa_type=sa.Text, nullable=False)
    # An approval the agent had already been told was approved (it may have acted on it).
    agent_acted: bool = Field(default=False, nullable=False)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class OverlapReview(SQLModel, table=True):
    """A sampled output sent to a second reviewer, blind: `copy_item_id` is what they were served."""

    __tablename__ = "overlap_reviews"
    __table_args__ = (sa.Index("ix_overlap_reviews_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False, sa_column_kwargs={"unique": True})
    copy_item_id: int = Field(foreign_key="items.id", nullable=False, sa_column_kwargs={"unique": True})
    first_reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    second_reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # A lead's settlement of a disagreement (the agreed label for a gold set).
    adjudicated_verdict: Verdict | None = Field(default=None, sa_type=str_enum(Verdict, 16))
    adjudicated_reason: str | None = Field(default=None, max_length=64)
    adjudicated_by: int | None = Field(default=None, foreign_key="users.id")
    adjudicated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    adjudication_note: str = Field(default="", sa_type=sa.Text, nullable=False)


class JudgeVerdict(SQLModel, table=True):
    """The agent pipeline's own automated verdict, sent with the output (`judge` on submit)."""

    __tablename__ = "judge_verdicts"

    item_id: int = Field(foreign_key="items.id", primary_key=True)
    verdict: Verdict = Field(sa_type=str_enum(Verdict, 16), nullable=False)
    score: float | None = Field(default=None)
    model: str = Field(default="", max_length=128, nullable=False)
