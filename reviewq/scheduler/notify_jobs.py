"""Scheduler jobs of notifications: the scan (announce, escalate, close out) and the weekly digest.

Sending is not here: the webhook outbox job sends notification deliveries too (api_jobs.py),
so a committed notification leaves as soon as the outbox is kicked.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.models import utcnow

log = logging.getLogger(__name__)


def scan_job(database: Database, settings: Settings):
    from reviewq.domain.notifications import scan

    with database.session_scope() as session:
        return scan(session=session, settings=settings, now=utcnow())


def digest_job(database: Database, settings: Settings):
    from reviewq.notify.digest import queue_digest

    with database.session_scope() as session:
        return queue_digest(session=session, settings=settings, now=utcnow())


def deliver_notifications_safely(database: Database, settings: Settings):
    """Send due notifications; a failure here must never stop the webhook outbox."""
    from reviewq.notify.sender import deliver_notifications

    try:
        return deliver_notifications(database, settings, utcnow())
    except Exception:  # noqa: BLE001 - logged; the rows stay due and the next run retries them
        log.exception("notification delivery run failed")
        return None


def add_notify_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    if not settings.notify.enabled:
        return
    scheduler.add_job(scan_job, "interval", seconds=settings.notify.scan_interval_s, args=[database, settings],
                      id="notify_scan", max_instances=1, coalesce=True)
    if settings.notify.digest_channel:
        trigger = CronTrigger.from_crontab(settings.notify.digest_schedule, timezone=settings.canaries.timezone)
        scheduler.add_job(digest_job, trigger, args=[database, settings], id="notify_digest", max_instances=1,
                          coalesce=True, misfire_grace_time=6 * 3600)
