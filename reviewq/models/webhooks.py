"""The webhook outbox: one row per event to deliver, written in the deciding transaction."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime, str_enum


class DeliveryStatus(str, Enum):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # max_attempts used up, or refused before sending
    DISABLED = "disabled"  # the endpoint answered 410 Gone


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # Standard Webhooks `webhook-id`: the same on every retry, so receivers can deduplicate.
    webhook_id: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    item_id: int = Field(foreign_key="items.id", nullable=False, index=True)
    token_id: int = Field(foreign_key="api_tokens.id", nullable=False)
    url: str = Field(sa_type=sa.Text, nullable=False)
    event_type: str = Field(max_length=64, nullable=False)
    # The exact bytes sent (UTF-8 JSON), fixed at creation so every retry signs the same body.
    body: str = Field(sa_type=sa.Text, nullable=False)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_type=str_enum(DeliveryStatus, 16), nullable=False
    )
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookEndpoint(SQLModel, table=True):
    """An endpoint (token + URL) that answered 410 Gone: nothing more is sent to it."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.UniqueConstraint("token_id", "url_hash", name="uq_webhook_endpoints_token_url"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: int = Field(foreign_key="api_tokens.id", nullable=False)
    url: str = Field(sa_type=sa.Text, nullable=False)
    url_hash: str = Field(max_length=64, nullable=False)
    disabled_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    reason: str = Field(default="", max_length=200, nullable=False)
