"""Time on task and review-session placement: pure rules, no database (VIGILANCE.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from reviewq.models.decisions import ActiveTimeSource

# A browser may count a little more than the server's span (its clock starts when the page
# shows the item, the server's when the claim answered): beyond this it is not believed.
OVER_SPAN_TOLERANCE_MS = 2000
# A decision needs the tab visible and a key or click, so a count under this for an item held
# this long means the browser did not count (e.g. a client that always reports 0).
MIN_PLAUSIBLE_MS = 250
LONG_SPAN_MS = 3000


@dataclass(frozen=True)
class ItemTiming:
    active_ms: int
    server_ms: int
    source: ActiveTimeSource = ActiveTimeSource.BROWSER

    @property
    def fell_back(self) -> bool:
        return self.source != ActiveTimeSource.BROWSER


def plausible_client_ms(client_active_ms: int, server_ms: int) -> bool:
    """Is the browser's active time believable against the server's served-to-decided span (§4)?"""
    if client_active_ms > server_ms + OVER_SPAN_TOLERANCE_MS:
        return False
    return not (client_active_ms < MIN_PLAUSIBLE_MS and server_ms >= LONG_SPAN_MS)


def measure_item(
    *, shown_at: datetime, decided_at: datetime, client_active_ms: int | None, idle_seconds: int
) -> ItemTiming:
    """Active and server time for one decision, checked on the server (VIGILANCE.md §4).

    The browser's count is capped by the served-to-decided span (a client cannot claim more
    time than the item was open). When it is missing or implausible, server time is used
    instead: the span, at most one idle window of it, since longer without input would not
    have counted. The source is kept, so the dashboard can say how many fell back.
    """
    server_ms = max(0, int((decided_at - shown_at).total_seconds() * 1000))
    server_estimate = min(server_ms, idle_seconds * 1000)
    if client_active_ms is None:
        return ItemTiming(server_estimate, server_ms, ActiveTimeSource.MISSING)
    client = max(0, int(client_active_ms))
    if not plausible_client_ms(client, server_ms):
        return ItemTiming(server_estimate, server_ms, ActiveTimeSource.IMPLAUSIBLE)
    return ItemTiming(min(client, server_ms), server_ms, ActiveTimeSource.BROWSER)


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
