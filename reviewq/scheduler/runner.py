"""Building the APScheduler 3 background scheduler and its interval jobs."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.queue import sweep_expired_leases
from reviewq.models import utcnow

log = logging.getLogger(__name__)


def sweep_leases_job(database: Database) -> int:
    with database.session_scope() as session:
        return sweep_expired_leases(session=session, now=utcnow())


def build_scheduler(settings: Settings, database: Database) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=settings.canaries.timezone)
    scheduler.add_job(
        sweep_leases_job, "interval", seconds=settings.queue.sweep_interval_s,
        args=[database], id="lease_sweeper", max_instances=1, coalesce=True,
    )
    from reviewq.scheduler.api_jobs import add_api_jobs

    add_api_jobs(scheduler, settings, database)
    from reviewq.scheduler.canary_jobs import add_canary_jobs

    add_canary_jobs(scheduler, settings, database)
    from reviewq.scheduler.notify_jobs import add_notify_jobs

    add_notify_jobs(scheduler, settings, database)
    return scheduler


def start_in_process(settings: Settings) -> BackgroundScheduler:
    database = Database.from_settings(settings)
    scheduler = build_scheduler(settings, database)
    scheduler.start()
    log.info("scheduler started in-process")
    return scheduler
