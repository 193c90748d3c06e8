"""The weekly digest: simulated reviewers with a known truth, read back through the dashboard's queries."""

from __future__ import annotations

from datetime import timedelta

from reviewq.domain import vigilance as v
from reviewq.domain.approvals import expire_due
from reviewq.models import InjectionKind, Verdict
from reviewq.notify.digest import digest_lines, grown_buckets, queue_digest
from reviewq.notify.sender import deliver_notifications
from reviewq.stats.dashboard import build_dashboard
from reviewq.stats.filters import Filters
from tests.support.api import add_reviewer, issue_token
from tests.support.dashboard_seed import review_one
from tests.support.notify import ask_approval, notify_settings, run_scan


def seed_week(database, settings, reviewer, start, outcomes):
    """Canaries shown one a minute: outcomes are (bucket, caught) pairs decided as the truth says."""
    with database.session_scope() as s:
        for i, (bucket, caught) in enumerate(outcomes):
            review_one(s, reviewer, verdict=Verdict.REJECT if caught else Verdict.APPROVE,
                       now=start + timedelta(minutes=i), active_s=20, settings=settings,
                       kind=InjectionKind.CANARY, bucket=bucket)


def test_grown_buckets_compares_misses_week_on_week():
    """Only buckets with more misses than the week before are listed, the biggest rise first."""
    this = [{"bucket": "a", "n": 5, "k": 1}, {"bucket": "b", "n": 3, "k": 2}, {"bucket": "c", "n": 2, "k": 0}]
    last = [{"bucket": "a", "n": 5, "k": 4}, {"bucket": "b", "n": 3, "k": 1}]
    assert grown_buckets(this, last) == [("a", 4, 1), ("c", 2, 0)]


def test_weekly_digest_reports_catch_rate_alarms_expiries_and_grown_buckets(database, settings, now, tmp_path):
    """ada catches 16 of 20, ben misses all 8, wrong_tool_call misses rose from 1 to 6; alarms as the dashboard's."""
    path = tmp_path / "digest.log"
    settings = notify_settings(settings, channels={"log": {"type": "log"}, "leads": {"type": "log", "path": str(path)}},
                               digest_channel="leads", public_url="https://rq.example.com")
    ada = add_reviewer(database, "ada", now=now - timedelta(days=30))
    ben = add_reviewer(database, "ben", now=now - timedelta(days=30))
    this_week, last_week = now - timedelta(days=5), now - timedelta(days=12)
    seed_week(database, settings, ada, last_week, [("wrong_tool_call", False)] + [("hallucinated_fact", True)] * 9)
    seed_week(database, settings, ada, this_week,
              [("wrong_tool_call", False)] * 4 + [("hallucinated_fact", True)] * 16)
    seed_week(database, settings, ben, this_week + timedelta(hours=2), [("wrong_tool_call", False)] * 2
              + [("schema_violation", False)] * 6)
    token = issue_token(database, now=now - timedelta(days=30))
    for minute in (0, 1):
        ask_approval(database, token, settings, this_week + timedelta(hours=5, minutes=minute))
    run_scan(database, settings, this_week + timedelta(hours=5, minutes=2))
    with database.session_scope() as s:
        expire_due(session=s, now=this_week + timedelta(hours=6), settings=settings)

    with database.session() as s:
        title, lines = digest_lines(session=s, settings=settings, now=now)
    iv = v.wilson(16, 28)
    assert title == "reviewq weekly digest: 2026-10-26 to 2026-11-01"
    assert lines[1] == (f"Team catch rate: {iv.rate * 100:.0f}% (95% CI {iv.low * 100:.0f}–{iv.high * 100:.0f}%), "
                        "16 of 28 canaries caught (provisional)")
    with database.session() as s:
        board = build_dashboard(session=s, now=now, filters=Filters(start=now.date() - timedelta(days=7),
                                                                     end=now.date() - timedelta(days=1)),
                                settings=settings).to_json()["scoreboard"]
    alarmed = [r["reviewer"] for r in board if r["drift"]["alarm"]]  # §5, as the dashboard reads it
    assert lines[2] == "CUSUM drift alarms: " + (", ".join(alarmed) if alarmed else "none")
    assert lines[3] == "Approvals expired: 2 of 2 (2 never opened)"
    assert lines[4] == ("Failure buckets that grew: schema_violation (6 missed, was 0), "
                        "wrong_tool_call (6 missed, was 1)")  # the biggest rise first

    with database.session_scope() as s:
        message = queue_digest(session=s, settings=settings, now=now)
    assert message["event"] == "digest.weekly" and message["link"] == "https://rq.example.com/dashboard"
    assert deliver_notifications(database, settings, now).delivered >= 1
    logged = path.read_text()
    assert "digest.weekly reviewq weekly digest: 2026-10-26 to 2026-11-01" in logged


def test_no_digest_without_a_digest_channel(database, settings, now):
    """[notify] digest_channel empty: nothing is queued."""
    settings = notify_settings(settings)
    with database.session_scope() as s:
        assert queue_digest(session=s, settings=settings, now=now) is None
