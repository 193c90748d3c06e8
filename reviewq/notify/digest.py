"""The weekly digest for leads: the oversight numbers of the last seven days, in one message.

Catch rate with its Wilson interval (VIGILANCE.md §3), reviewers whose CUSUM alarms (§5),
approvals that expired (and how many nobody opened), and failure buckets whose misses grew
against the week before. Every figure comes from the dashboard's own queries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.notifications import enqueue_delivery, public_url
from reviewq.models import DeliveryAction, Notification, NotificationStage, new_public_id
from reviewq.notify.message import digest_message
from reviewq.stats.dashboard import build_dashboard
from reviewq.stats.filters import Filters


def _week(now: datetime, weeks_back: int) -> Filters:
    end = (now - timedelta(days=1 + 7 * weeks_back)).date()
    return Filters(start=end - timedelta(days=6), end=end)


def grown_buckets(this_week: list[dict], last_week: list[dict]) -> list[tuple[str, int, int]]:
    """(bucket, missed this week, missed the week before) where misses went up."""
    before = {b["bucket"]: b["n"] - b["k"] for b in last_week}
    grown = [(b["bucket"], b["n"] - b["k"], before.get(b["bucket"], 0)) for b in this_week]
    return sorted((g for g in grown if g[1] > g[2]), key=lambda g: (g[2] - g[1], g[0]))


def digest_lines(*, session: Session, settings: Settings, now: datetime) -> tuple[str, list[str]]:
    week, previous = _week(now, 0), _week(now, 1)
    d = build_dashboard(session=session, now=now, filters=week, settings=settings).to_json()
    before = build_dashboard(session=session, now=now, filters=previous, settings=settings).to_json()
    catch = d["team"]["catch"]
    if catch["status"] == "no_rate":
        catch_line = f"Team catch rate: not enough canaries yet ({catch['k']} of {catch['n']} caught)"
    else:
        catch_line = (f"Team catch rate: {catch['rate'] * 100:.0f}% (95% CI {catch['low'] * 100:.0f}–"
                      f"{catch['high'] * 100:.0f}%), {catch['k']} of {catch['n']} canaries caught")
        if catch["status"] == "provisional":
            catch_line += " (provisional)"
    alarms = [r["reviewer"] for r in d["scoreboard"] if (r.get("drift") or r.get("cusum") or {}).get("alarm")]
    attention = d["queue"]["attention"]["total"]
    grown = grown_buckets(d["buckets"], before["buckets"])
    lines = [
        f"Week {week.start.isoformat()} to {week.end.isoformat()} (UTC)",
        catch_line,
        "CUSUM drift alarms: " + (", ".join(alarms) if alarms else "none"),
        f"Approvals expired: {attention['expired']} of {attention['requested']} "
        f"({attention['expired_unread']} never opened)",
        "Failure buckets that grew: " + (", ".join(f"{b} ({now_n} missed, was {was})" for b, now_n, was in grown)
                                         if grown else "none"),
    ]
    return f"reviewq weekly digest: {week.start.isoformat()} to {week.end.isoformat()}", lines


def queue_digest(*, session: Session, settings: Settings, now: datetime) -> dict | None:
    """Write this week's digest to [notify] digest_channel's outbox; None when no channel is set."""
    channel = settings.notify.digest_channel
    if not channel or not settings.notify.enabled:
        return None
    title, lines = digest_lines(session=session, settings=settings, now=now)
    notification = Notification(public_id=new_public_id("ntf"), watch_id=None, channel=channel,
                                stage=NotificationStage.DIGEST, step=0, created_at=now)
    session.add(notification)
    session.flush()
    message = digest_message(notification_id=notification.public_id, title=title, lines=lines,
                             link=public_url(settings).rstrip("/") + "/dashboard")
    enqueue_delivery(session=session, notification=notification, action=DeliveryAction.POST, message=message, now=now)
    return message
