"""Notifications about approval requests: what each approval's watchers were told, and the outbox.

An `ApprovalWatch` follows one approval from the moment it is due in the queue until it settles:
when it was announced, when it escalates next, when a reviewer first opened it. Each message
posted to a channel is a `Notification`; every post or update of it is a `NotificationDelivery`
row, written in the transaction that decided to send it and sent after commit, with retries
(the webhook outbox's pattern). `ReviewerAvailability` is who is on call.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum
from reviewq.models.webhooks import DeliveryStatus


class ApprovalWatch(SQLModel, table=True):
    __tablename__ = "approval_watches"
    __table_args__ = (sa.Index("ix_approval_watches_open", "settled_at", "next_escalation_at"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="items.id", nullable=False, sa_column_kwargs={"unique": True})
    intent: str = Field(max_length=64, nullable=False, index=True)
    # When the approval became due in the queue (its timeout's start) and its deadline.
    window_start: datetime = Field(sa_type=UTCDateTime, nullable=False)
    deadline: datetime = Field(sa_type=UTCDateTime, nullable=False)
    announced_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Escalation steps sent so far ([notify] escalate_at), and when the next one is due.
    escalations: int = Field(default=0, nullable=False)
    next_escalation_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # True when nobody was on call at announcement, so it went to the escalation channel at once.
    escalated_unstaffed: bool = Field(default=False, nullable=False)
    first_opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_opened_by: int | None = Field(default=None, foreign_key="users.id")
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_status: str | None = Field(default=None, max_length=16)
    settled_summary: str | None = Field(default=None, max_length=300)


class NotificationStage(str, Enum):
    NEW = "new"  # the approval was requested
    ESCALATION = "escalation"  # still pending at a share of its timeout
    UNSTAFFED = "unstaffed"  # nobody on call when it arrived
    DIGEST = "digest"  # the weekly summary for leads


class Notification(SQLModel, table=True):
    """One message in one channel; later deliveries update it in place where the channel can."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    # Sent as the message's id (webhook-id, Message-ID): random, the same on every retry.
    public_id: str = Field(max_length=40, nullable=False, sa_column_kwargs={"unique": True})
    watch_id: int | None = Field(default=None, foreign_key="approval_watches.id", index=True)
    channel: str = Field(max_length=64, nullable=False)
    stage: NotificationStage = Field(sa_type=str_enum(NotificationStage, 16), nullable=False)
    step: int = Field(default=0, nullable=False)  # the escalation step (1 = first share)
    # Where the channel put it: Slack "channel_id ts", an email Message-ID. Set by the first post.
    remote_ref: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class DeliveryAction(str, Enum):
    POST = "post"
    UPDATE = "update"


class NotificationDelivery(SQLModel, table=True):
    __tablename__ = "notification_deliveries"
    __table_args__ = (sa.Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", nullable=False, index=True)
    # The id a receiver deduplicates on: the same on every retry of this delivery.
    delivery_id: str = Field(max_length=64, nullable=False, sa_column_kwargs={"unique": True})
    channel: str = Field(max_length=64, nullable=False)
    action: DeliveryAction = Field(sa_type=str_enum(DeliveryAction, 16), nullable=False)
    # The rendered message (JSON), fixed when written so every retry sends the same thing.
    body: str = Field(sa_type=sa.Text, nullable=False)
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=str_enum(DeliveryStatus, 16),
                                   nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Availability(str, Enum):
    AVAILABLE = "available"
    AWAY = "away"


class ReviewerAvailability(SQLModel, table=True):
    """A reviewer's own on-call mark; no row means they said nothing (queue activity counts)."""

    __tablename__ = "reviewer_availability"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, sa_column_kwargs={"unique": True})
    status: Availability = Field(sa_type=str_enum(Availability, 16), nullable=False)
    changed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
