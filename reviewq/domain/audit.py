"""Writing to the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.lean_sql import Prebuilt
from reviewq.models import AuditEvent

# One INSERT, built once, sent at once: no ORM object to flush (every decision writes one).
_INSERT_EVENT = Prebuilt(sa.insert(AuditEvent.__table__))


def record_event(
    *,
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    now: datetime,
    details: dict[str, Any] | None = None,
) -> None:
    _INSERT_EVENT.run(
        session,
        {"actor": actor, "action": action, "object_type": object_type, "object_id": str(object_id),
         "details": details or {}, "at": now},
    )


def user_actor(name: str) -> str:
    return f"user:{name}"


def agent_actor(name: str) -> str:
    return f"agent:{name}"


SYSTEM_ACTOR = "system"
