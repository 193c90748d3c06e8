"""Reviewer decisions and the review sessions they fall into."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import sqlalchemy as sa
from pydantic import ConfigDict, Strict, ValidationInfo, field_validator
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class Verdict(str, Enum):
    APPROVE = "approve"
    REJECT = "reject"


class ReasonBucket(str, Enum):
    """Why a reviewer rejected; keys 1-8 on the queue page, in this order."""

    HALLUCINATED_FACT = "hallucinated_fact"
    SCHEMA_VIOLATION = "schema_violation"
    WRONG_REFUSAL = "wrong_refusal"
    WRONG_TOOL_CALL = "wrong_tool_call"
    INFINITE_LOOP = "infinite_loop"
    OFF_TOPIC = "off_topic"
    POLICY_VIOLATION = "policy_violation"
    OTHER = "other"


class ActiveTimeSource(str, Enum):
    """Where a decision's active time came from (VIGILANCE.md §4: checked on the server)."""

    BROWSER = "browser"  # the browser's count, within the served-to-decided span
    MISSING = "missing"  # no browser count: server time, at most one idle window
    IMPLAUSIBLE = "implausible"  # browser count beyond the span, or ~0 for a long span: server time


class DecisionCreate(SQLModel):
    """A verdict as a reviewer (the queue page) or a judge (the review API) sends it."""

    # `reason` is checked even when left out: a reject without one is refused.
    model_config = ConfigDict(validate_default=True)

    verdict: Verdict
    # A ReasonBucket value or one of the team's own ([reasons] extra): validated against
    # context={"reasons": [...]} when given (the web layer passes the configured list).
    reason: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=2000)
    # Active milliseconds counted by the browser (visible tab, recent input); None if unknown.
    active_ms: Annotated[int, Strict()] | None = Field(default=None, ge=0)

    @field_validator("reason")
    @classmethod
    def _reason_explains_a_reject(cls, reason: str | None, info: ValidationInfo) -> str | None:
        verdict = info.data.get("verdict")
        if verdict is None:  # the verdict itself was refused
            return reason
        if verdict == Verdict.APPROVE:
            return None  # a reason bucket explains a reject only
        if not reason:
            raise ValueError("a reject needs a reason bucket (1-8)")
        known = (info.context or {}).get("reasons")
        if known is not None and reason not in known:
            raise ValueError("unknown reason bucket")
        return reason

    @field_validator("note", mode="before")
    @classmethod
    def _no_note(cls, note: object) -> object:
        return "" if note is None else note

    @field_validator("note")
    @classmethod
    def _trimmed(cls, note: str) -> str:
        return note.strip()


class DecisionPublic(SQLModel):
    verdict: Verdict
    reason: str | None
    note: str
    decided_at: datetime


class ReviewSession(SQLModel, table=True):
    """A run of one reviewer's activity; a gap of session_gap_minutes starts the next."""

    __tablename__ = "review_sessions"
    __table_args__ = (sa.Index("ix_review_sessions_reviewer", "reviewer_id", "last_activity_at"),)

    id: int | None = Field(default=None, primary_key=True)
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    started_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_activity_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    active_ms: int = Field(default=0, sa_type=sa.BigInteger, nullable=False)
    decisions: int = Field(default=0, nullable=False)


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (
        sa.Index("ix_decisions_reviewer_time", "reviewer_id", "decided_at"),
        sa.Index("ix_decisions_item", "item_id", "reviewer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False)
    reviewer_id: int = Field(foreign_key="users.id", nullable=False)
    verdict: Verdict = Field(sa_type=str_enum(Verdict, 16), nullable=False)
    # Plain text, so a team's own buckets ([reasons] extra) fit beside the built-in ReasonBucket values.
    reason: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", sa_type=sa.Text, nullable=False)
    shown_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    decided_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Browser-measured active time, clamped to the server-side span (VIGILANCE.md §4).
    active_ms: int = Field(nullable=False)
    # Server-side span from shown to decided.
    server_ms: int = Field(nullable=False)
    review_session_id: int = Field(foreign_key="review_sessions.id", nullable=False, index=True)
    minutes_into_session: float = Field(nullable=False)
    # None on decisions recorded before the server checked the browser's figure.
    active_source: ActiveTimeSource | None = Field(default=None, sa_type=str_enum(ActiveTimeSource, 16))
    # On an approval: the digest of the tool call the reviewer was shown (reviewq.tool_digest).
    tool_digest: str | None = Field(default=None, max_length=64)
