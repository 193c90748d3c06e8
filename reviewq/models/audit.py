"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Field, SQLModel

from reviewq.models.common import UTCDateTime


class AuditEventBase(SQLModel):
    # "user:<name>", "agent:<name>" or "system".
    actor: str = Field(max_length=100, nullable=False)
    action: str = Field(max_length=64, index=True, nullable=False)
    object_type: str = Field(max_length=32, nullable=False)
    object_id: str = Field(max_length=64, nullable=False)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class AuditEventPublic(AuditEventBase):
    id: int
    at: datetime


class AuditEvent(AuditEventBase, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_change(_mapper, _connection, target):
    raise AuditLogIsAppendOnly(f"audit event {target.id} cannot be changed or deleted")
