"""Building the APScheduler 3 background scheduler and its interval jobs."""

from __future__ import annotations

import logging
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain import rate_counters
from reviewq.domain.claims import sweep_expired_leases
from reviewq.models import utcnow

log = logging.getLogger(__name__)


def sweep_leases_job(database: Database) -> int:
    with database.session_scope() as session:
        return sweep_expired_leases(session=session, now=utcnow())


# Rate counters (login throttle, API rate limit) whose window ended are deleted this often.
COUNTER_SWEEP_INTERVAL_S = 600


def sweep_counters_job(database: Database, settings: Settings) -> int:
    """Forget rate counters older than the longest window (the account lock), so the table stays small."""
    keep = timedelta(minutes=max(2, settings.security.account_lock_minutes + 1))
    with database.session_scope() as session:
        return rate_counters.sweep(session=session, now=utcnow(), older_than=keep)


def build_scheduler(settings: Settings, database: Database) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=settings.canaries.timezone)
    scheduler.add_job(
        sweep_leases_job, "interval", seconds=settings.queue.sweep_interval_s,
        args=[database], id="lease_sweeper", max_instances=1, coalesce=True,
    )
    scheduler.add_job(
        sweep_counters_job, "interval", seconds=COUNTER_SWEEP_INTERVAL_S,
        args=[database, settings], id="rate_counter_sweeper", max_instances=1, coalesce=True,
    )
    from reviewq.scheduler.api_jobs import add_api_jobs

    add_api_jobs(scheduler, settings, database)
    from reviewq.scheduler.canary_jobs import add_canary_jobs

    add_canary_jobs(scheduler, settings, database)
    from reviewq.scheduler.notify_jobs import add_notify_jobs

    add_notify_jobs(scheduler, settings, database)
    return scheduler


def start_in_process(settings: Settings) -> BackgroundScheduler:
    database = Database.from_settings(settings, background=True)
    scheduler = build_scheduler(settings, database)
    scheduler.start()
    log.info("scheduler started in-process")
    return scheduler
