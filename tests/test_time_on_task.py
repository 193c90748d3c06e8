"""The active-time and session rules (VIGILANCE.md §4), as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reviewq.domain.time_on_task import SessionSoFar, continuous_active_minutes, measure_item, place_in_session
from reviewq.models import ActiveTimeSource

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_browser_time_is_trusted_up_to_the_server_span():
    """Client active ms count as sent, but never beyond the time the item was actually open."""
    shown, decided = T0, T0 + timedelta(seconds=40)
    sent = measure_item(shown_at=shown, decided_at=decided, client_active_ms=12_345, idle_seconds=60)
    assert sent.active_ms == 12_345
    assert sent.source == ActiveTimeSource.BROWSER
    near = measure_item(shown_at=shown, decided_at=decided, client_active_ms=41_000, idle_seconds=60)
    assert near.active_ms == 40_000 and near.source == ActiveTimeSource.BROWSER  # within clock tolerance: capped
    clamped = measure_item(shown_at=shown, decided_at=decided, client_active_ms=10**9, idle_seconds=60)
    assert clamped.active_ms == 40_000 and clamped.server_ms == 40_000
    assert clamped.source == ActiveTimeSource.IMPLAUSIBLE


def test_a_browser_reporting_zero_falls_back_to_server_time():
    """A client that reports 0 (or less) for an item held 40 s is implausible: server time is used and flagged (§4)."""
    shown, decided = T0, T0 + timedelta(seconds=40)
    for reported in (0, -5, 100):
        t = measure_item(shown_at=shown, decided_at=decided, client_active_ms=reported, idle_seconds=60)
        assert t.active_ms == 40_000 and t.source == ActiveTimeSource.IMPLAUSIBLE and t.fell_back
    quick = measure_item(shown_at=shown, decided_at=shown + timedelta(seconds=1), client_active_ms=100, idle_seconds=60)
    assert quick.source == ActiveTimeSource.BROWSER and quick.active_ms == 100  # a fast click on a short span


def test_without_a_browser_count_at_most_one_idle_window_is_active():
    """No client figure: the span counts, capped at idle_seconds (longer without input would not count)."""
    long = measure_item(shown_at=T0, decided_at=T0 + timedelta(minutes=10), client_active_ms=None, idle_seconds=60)
    assert long.active_ms == 60_000 and long.server_ms == 600_000
    short = measure_item(shown_at=T0, decided_at=T0 + timedelta(seconds=8), client_active_ms=None, idle_seconds=60)
    assert short.active_ms == 8_000 and short.source == ActiveTimeSource.MISSING


def test_clock_going_backwards_gives_zero_not_negative():
    """A decided_at before shown_at (clock skew) yields zero times."""
    t = measure_item(shown_at=T0, decided_at=T0 - timedelta(seconds=3), client_active_ms=500, idle_seconds=60)
    assert t.server_ms == 0 and t.active_ms == 0


def test_first_decision_opens_a_session():
    """With no earlier session the decision starts one, its minutes being its own active time."""
    p = place_in_session(previous=None, shown_at=T0, decided_at=T0 + timedelta(minutes=2),
                         active_ms=90_000, gap_minutes=15)
    assert not p.continues and p.minutes_into_session == pytest.approx(1.5)


def test_gap_just_under_the_threshold_continues_and_accumulates():
    """Work starting 14:59 after the last activity continues the session; minutes add up."""
    prev = SessionSoFar(started_at=T0, last_activity_at=T0 + timedelta(minutes=10), active_ms=8 * 60_000)
    decided = prev.last_activity_at + timedelta(minutes=14, seconds=59) + timedelta(seconds=30)
    p = place_in_session(previous=prev, shown_at=decided - timedelta(seconds=30), decided_at=decided,
                         active_ms=30_000, gap_minutes=15)
    assert p.continues and p.minutes_into_session == pytest.approx(8.5)


def test_gap_of_exactly_the_threshold_starts_a_new_session():
    """A gap of 15 minutes or more starts a new session (the boundary belongs to the new one)."""
    prev = SessionSoFar(started_at=T0, last_activity_at=T0, active_ms=20 * 60_000)
    start = T0 + timedelta(minutes=15)
    p = place_in_session(previous=prev, shown_at=start, decided_at=start + timedelta(seconds=20),
                         active_ms=20_000, gap_minutes=15)
    assert not p.continues and p.minutes_into_session == pytest.approx(20_000 / 60_000)


def test_item_left_open_over_a_break_does_not_bridge_the_gap():
    """An item shown before a 40-minute break but worked on only after it opens a new session."""
    prev = SessionSoFar(started_at=T0, last_activity_at=T0 + timedelta(minutes=5), active_ms=5 * 60_000)
    shown = T0 + timedelta(minutes=6)  # opened 1 min after the last decision...
    decided = shown + timedelta(minutes=40)  # ...but decided 40 min later after 45 s of work
    p = place_in_session(previous=prev, shown_at=shown, decided_at=decided, active_ms=45_000, gap_minutes=15)
    assert not p.continues


def test_continuous_minutes_drive_the_break_nudge_and_reset_after_the_gap():
    """The running session's active minutes count until the gap passes, then drop to zero."""
    s = SessionSoFar(started_at=T0, last_activity_at=T0 + timedelta(minutes=30), active_ms=26 * 60_000)
    assert continuous_active_minutes(s, now=s.last_activity_at + timedelta(minutes=1), gap_minutes=15) == 26
    assert continuous_active_minutes(s, now=s.last_activity_at + timedelta(minutes=15), gap_minutes=15) == 0
    assert continuous_active_minutes(None, now=T0, gap_minutes=15) == 0


def test_session_now_nudges_only_a_running_long_session():
    """The break nudge fires at break_nudge_minutes of a running session, never for an ended one."""
    from reviewq.domain.reviewer import session_now
    from reviewq.models import ReviewSession

    row = ReviewSession(reviewer_id=1, started_at=T0, last_activity_at=T0 + timedelta(minutes=30),
                        active_ms=25 * 60_000, decisions=70)
    running = session_now(row, now=row.last_activity_at + timedelta(minutes=2), gap_minutes=15, nudge_minutes=25)
    assert running.running and running.nudge and running.decisions == 70
    row.active_ms = 24 * 60_000
    assert not session_now(row, now=row.last_activity_at, gap_minutes=15, nudge_minutes=25).nudge
    ended = session_now(row, now=row.last_activity_at + timedelta(minutes=15), gap_minutes=15, nudge_minutes=25)
    assert not ended.running and not ended.nudge and ended.active_minutes == 0
    assert session_now(None, now=T0, gap_minutes=15, nudge_minutes=25).running is False


def test_today_and_this_week_follow_the_configured_time_zone():
    """"Today" starts at local midnight and "this week" at local Monday 00:00."""
    from reviewq.domain.reviewer import day_and_week_start

    # Thursday 2026-11-05 02:30 UTC is still Wednesday evening in New York.
    day, week = day_and_week_start(datetime(2026, 11, 5, 2, 30, tzinfo=UTC), "America/New_York")
    assert day.isoformat() == "2026-11-04T00:00:00-05:00"
    assert week.isoformat() == "2026-11-02T00:00:00-05:00"
    day, week = day_and_week_start(datetime(2026, 11, 2, 0, 0, tzinfo=UTC), "UTC")
    assert day == week == datetime(2026, 11, 2, tzinfo=UTC)
