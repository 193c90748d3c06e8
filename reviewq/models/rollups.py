"""Dashboard rollups, kept up to date in the decision's own transaction.

At a million decisions a per-reviewer median or a share of sub-2-second decisions would need
a sort of every decision on each page view. Instead each decision adds one to a histogram row
per reviewer, UTC day and category; the dashboard sums a few thousand rows instead.
Columns hNN / wNN count values in [EDGES[NN], EDGES[NN+1]) seconds, the last one open-ended.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Bucket lower edges in seconds. 2 s is an edge, so "under 2 s" is exact (VIGILANCE.md §4).
ACTIVE_EDGES_S: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 90, 120, 180, 300, 600)
WAIT_EDGES_S: tuple[int, ...] = (
    0, 5, 10, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 14400, 28800, 43200, 86400,
)
ACTIVE_COLUMNS = tuple(f"h{i:02d}" for i in range(len(ACTIVE_EDGES_S)))
WAIT_COLUMNS = tuple(f"w{i:02d}" for i in range(len(WAIT_EDGES_S)))


class DecisionRollup(SQLModel, table=True):
    """Decisions per reviewer, UTC day and item category, with an active-seconds histogram."""

    __tablename__ = "decision_rollups"
    __table_args__ = (sa.Index("ix_decision_rollups_day", "day", "reviewer_id"),)

    reviewer_id: int = Field(foreign_key="users.id", primary_key=True)
    day: date = Field(sa_type=sa.Date, primary_key=True)
    category: str = Field(max_length=64, primary_key=True)
    decisions: int = Field(default=0, nullable=False)
    rejects: int = Field(default=0, nullable=False)
    under_2s: int = Field(default=0, nullable=False)
    active_ms_sum: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    # Decisions whose browser-reported active time was missing or implausible (VIGILANCE.md §4).
    active_fallback: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    h00: int = Field(default=0, nullable=False)
    h01: int = Field(default=0, nullable=False)
    h02: int = Field(default=0, nullable=False)
    h03: int = Field(default=0, nullable=False)
    h04: int = Field(default=0, nullable=False)
    h05: int = Field(default=0, nullable=False)
    h06: int = Field(default=0, nullable=False)
    h07: int = Field(default=0, nullable=False)
    h08: int = Field(default=0, nullable=False)
    h09: int = Field(default=0, nullable=False)
    h10: int = Field(default=0, nullable=False)
    h11: int = Field(default=0, nullable=False)
    h12: int = Field(default=0, nullable=False)
    h13: int = Field(default=0, nullable=False)
    h14: int = Field(default=0, nullable=False)
    h15: int = Field(default=0, nullable=False)
    h16: int = Field(default=0, nullable=False)
    h17: int = Field(default=0, nullable=False)
    h18: int = Field(default=0, nullable=False)
    h19: int = Field(default=0, nullable=False)
    h20: int = Field(default=0, nullable=False)
    h21: int = Field(default=0, nullable=False)


class ApprovalWaitRollup(SQLModel, table=True):
    """Settled approvals per UTC day and category, with a histogram of created-to-decided wait."""

    __tablename__ = "approval_wait_rollups"

    day: date = Field(sa_type=sa.Date, primary_key=True)
    category: str = Field(max_length=64, primary_key=True)
    settled: int = Field(default=0, nullable=False)
    wait_ms_sum: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    w00: int = Field(default=0, nullable=False)
    w01: int = Field(default=0, nullable=False)
    w02: int = Field(default=0, nullable=False)
    w03: int = Field(default=0, nullable=False)
    w04: int = Field(default=0, nullable=False)
    w05: int = Field(default=0, nullable=False)
    w06: int = Field(default=0, nullable=False)
    w07: int = Field(default=0, nullable=False)
    w08: int = Field(default=0, nullable=False)
    w09: int = Field(default=0, nullable=False)
    w10: int = Field(default=0, nullable=False)
    w11: int = Field(default=0, nullable=False)
    w12: int = Field(default=0, nullable=False)
    w13: int = Field(default=0, nullable=False)
    w14: int = Field(default=0, nullable=False)
    w15: int = Field(default=0, nullable=False)
    w16: int = Field(default=0, nullable=False)
    w17: int = Field(default=0, nullable=False)
    w18: int = Field(default=0, nullable=False)
    w19: int = Field(default=0, nullable=False)
    w20: int = Field(default=0, nullable=False)
