"""Writing to the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from reviewq.models import AuditEvent


def record_event(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=details or {},
        at=now,
    )
    session.add(event)
    return event


def user_actor(name: str) -> str:
    return f"user:{name}"


def agent_actor(name: str) -> str:
    return f"agent:{name}"


SYSTEM_ACTOR = "system"
