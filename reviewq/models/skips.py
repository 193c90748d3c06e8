"""Skips: a reviewer gave an item back unseen-through (VIGILANCE.md §7).

Kept per event, so the dashboard can show skip rates on real and on planted items and whether a
reviewer's skips fall on long or hard items. Whether the item was planted is read from the
injections table at query time, never stored here.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime


class Skip(SQLModel, table=True):
    __tablename__ = "skips"
    __table_args__ = (sa.Index("ix_skips_reviewer_time", "reviewer_id", "skipped_at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False, index=True)
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    skipped_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Server time the item was held before it was given back.
    held_ms: int = Field(default=0, nullable=False)
