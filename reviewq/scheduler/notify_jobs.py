"""Scheduler jobs of notifications: the scan (announce, escalate, close out), sending, the weekly digest.

Sending is its own job, kicked like the webhook outbox when a delivery commits: inside the
webhook dispatch job, a channel taking its 10 s timeout held every webhook back.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.models import utcnow

log = logging.getLogger(__name__)


# The scan writes this many approvals' notifications per transaction: on SQLite reviewers wait for
# the write lock while it is held, and 500 announcements at once (a crowd of new approvals) held
# it for most of a second. 50 settled approvals (a team deciding 75 a second) still held it
# 50-100 ms, the reviewers' p99; 10 held it 30-40 ms under that load (the holder also waits for
# the GIL). What is due is read first, outside the lock (domain.notifications.due_work). With the
# queue calls on the event loop, a call that arrives during a chunk waits for the rest of it: with
# 10,000 long-polls open, 5 a chunk gave "next"/"decide" p99 22-31 ms against 29-34 ms for 10
# (two alternating runs each, a noisy hour).
SCAN_CHUNK = 5


def scan_job(database: Database, settings: Settings):
    from reviewq.domain.notifications import SCAN_BATCH, ScanReport, due_work, scan

    total = ScanReport()
    if not settings.notify.enabled:
        return total
    with database.session_scope(readonly=True) as session:
        due = due_work(session=session, now=utcnow(), limit=SCAN_BATCH)
    for chunk in due.chunks(SCAN_CHUNK):
        with database.session_scope() as session:
            report = scan(session=session, settings=settings, now=utcnow(), due=chunk)
        for name in ("announced", "unstaffed", "escalated", "settled"):
            getattr(total, name).extend(getattr(report, name))
    return total


def digest_job(database: Database, settings: Settings):
    from reviewq.notify.digest import queue_digest

    with database.session_scope() as session:
        return queue_digest(session=session, settings=settings, now=utcnow())


def deliver_notifications_safely(database: Database, settings: Settings):
    """Send due notifications; a failure is logged and the rows stay due for the next run."""
    from reviewq.notify.sender import deliver_notifications

    try:
        return deliver_notifications(database, settings, utcnow())
    except Exception:  # noqa: BLE001 - logged; the rows stay due and the next run retries them
        log.exception("notification delivery run failed")
        return None


SEND_JOB_ID = "notify_send"


def add_notify_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    from reviewq.scheduler.outbox_kick import OutboxKicker, kick_on_delivery

    # Sent even with notifications turned off, as before: what was queued still leaves.
    kicker = OutboxKicker(scheduler, SEND_JOB_ID)
    scheduler.add_job(kicker.wrap(deliver_notifications_safely), "interval", seconds=settings.notify.scan_interval_s,
                      args=[database, settings], id=SEND_JOB_ID, max_instances=1, coalesce=True)
    kick_on_delivery(scheduler, kicker, database)
    if not settings.notify.enabled:
        return
    scheduler.add_job(scan_job, "interval", seconds=settings.notify.scan_interval_s, args=[database, settings],
                      id="notify_scan", max_instances=1, coalesce=True)
    if settings.notify.digest_channel:
        trigger = CronTrigger.from_crontab(settings.notify.digest_schedule, timezone=settings.canaries.timezone)
        scheduler.add_job(digest_job, trigger, args=[database, settings], id="notify_digest", max_instances=1,
                          coalesce=True, misfire_grace_time=6 * 3600)
