"""The review-session clock: each decision's active time, and the session it extends or starts.

The rules are pure and live in time_on_task.py (VIGILANCE.md §4); this module applies them to the
reviewer's stored sessions, inside the decision's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.items import set_loaded
from reviewq.domain.reviewer import latest_session
from reviewq.domain.time_on_task import ItemTiming, SessionPlacement, SessionSoFar, measure_item, place_in_session
from reviewq.lean_sql import Prebuilt
from reviewq.models import ReviewSession
from reviewq.models.common import UTCDateTime

_SESSIONS = ReviewSession.__table__
_ADD_TO_SESSION = Prebuilt(
    sa.update(_SESSIONS)
    .where(_SESSIONS.c.id == sa.bindparam("session_id"))
    .values(active_ms=_SESSIONS.c.active_ms + sa.bindparam("add_ms"), decisions=_SESSIONS.c.decisions + 1,
            last_activity_at=sa.bindparam("now", type_=UTCDateTime()))
)


@dataclass(frozen=True)
class Clocked:
    timing: ItemTiming
    placement: SessionPlacement
    review_session: ReviewSession  # stored, this decision included


def clock_decision(
    *, session: Session, reviewer_id: int, shown_at: datetime, client_active_ms: int | None, now: datetime,
    settings: Settings,
) -> Clocked:
    """Time one decision and add it to the reviewer's running session, or start a new one."""
    timing = measure_item(
        shown_at=shown_at,
        decided_at=now,
        client_active_ms=client_active_ms,
        idle_seconds=settings.vigilance.idle_seconds,
    )
    latest = latest_session(session=session, reviewer_id=reviewer_id)
    previous = (
        SessionSoFar(latest.started_at, latest.last_activity_at, latest.active_ms)
        if latest is not None
        else None
    )
    placement = place_in_session(
        previous=previous,
        shown_at=shown_at,
        decided_at=now,
        active_ms=timing.active_ms,
        gap_minutes=settings.vigilance.session_gap_minutes,
    )
    if placement.continues:
        review_session = latest
        _ADD_TO_SESSION.run(session, {"session_id": latest.id, "add_ms": timing.active_ms, "now": now})
        set_loaded(review_session, active_ms=latest.active_ms + timing.active_ms,
                   decisions=latest.decisions + 1, last_activity_at=now)
    else:
        review_session = ReviewSession(
            reviewer_id=reviewer_id,
            started_at=placement.activity_start,
            last_activity_at=now,
            active_ms=timing.active_ms,
            decisions=1,
        )
        session.add(review_session)
        session.flush()  # the decision needs the new session's id
    return Clocked(timing=timing, placement=placement, review_session=review_session)
