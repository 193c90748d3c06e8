"""Time on task and review-session placement: pure rules, no database (VIGILANCE.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ItemTiming:
    active_ms: int
    server_ms: int


def measure_item(
    *, shown_at: datetime, decided_at: datetime, client_active_ms: int | None, idle_seconds: int
) -> ItemTiming:
    """Active and server time for one decision.

    The browser's count is trusted only up to the server-side span (a client cannot claim
    more time than the item was open). Without a browser count, at most one idle window of
    the span is taken as active, since longer without input would not have counted.
    """
    server_ms = max(0, int((decided_at - shown_at).total_seconds() * 1000))
    if client_active_ms is None:
        active_ms = min(server_ms, idle_seconds * 1000)
    else:
        active_ms = min(max(0, int(client_active_ms)), server_ms)
    return ItemTiming(active_ms=active_ms, server_ms=server_ms)


@dataclass(frozen=True)
class SessionSoFar:
    started_at: datetime
    last_activity_at: datetime
    active_ms: int


@dataclass(frozen=True)
class SessionPlacement:
    continues: bool  # False: this decision opens a new session
    minutes_into_session: float
    activity_start: datetime  # when work on the item is taken to have begun (a new session's start)


def place_in_session(
    *,
    previous: SessionSoFar | None,
    shown_at: datetime,
    decided_at: datetime,
    active_ms: int,
    gap_minutes: int,
) -> SessionPlacement:
    """Whether a decision continues the reviewer's last session, and its minutes into it.

    Work on the item is taken to start no earlier than its active time before the decision,
    so an item left open during a break does not bridge the gap. Minutes into session are
    active minutes, counted to the end of this item.
    """
    activity_start = max(shown_at, decided_at - timedelta(milliseconds=active_ms))
    gap = timedelta(minutes=gap_minutes)
    if previous is None or activity_start - previous.last_activity_at >= gap:
        return SessionPlacement(continues=False, minutes_into_session=active_ms / 60000,
                                activity_start=activity_start)
    return SessionPlacement(
        continues=True, minutes_into_session=(previous.active_ms + active_ms) / 60000,
        activity_start=activity_start,
    )


def continuous_active_minutes(session: SessionSoFar | None, *, now: datetime, gap_minutes: int) -> float:
    """Active minutes of the session still running at `now` (0 if it has ended); drives the break nudge."""
    if session is None or now - session.last_activity_at >= timedelta(minutes=gap_minutes):
        return 0.0
    return session.active_ms / 60000
