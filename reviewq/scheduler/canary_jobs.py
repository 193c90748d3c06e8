"""Scheduler jobs of the canaries: the weekly injection (cron) and the expiry of unseen items."""

from __future__ import annotations

import logging
import random

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from reviewq.canaries.library import load_library
from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.injection import expire_unseen, inject_week
from reviewq.models import utcnow

log = logging.getLogger(__name__)

EXPIRY_INTERVAL_S = 600  # unseen planted items expire within 10 minutes of the week's end


def inject_job(database: Database, settings: Settings) -> int:
    library = load_library(settings.canary_library_path)
    with database.session_scope() as session:
        planted = inject_week(
            session=session, library=library, settings=settings, now=utcnow(), rng=random.SystemRandom()
        )
    log.info("canary injection planted %d items", len(planted))
    return len(planted)


def expire_job(database: Database) -> int:
    with database.session_scope() as session:
        return expire_unseen(session=session, now=utcnow())


def add_canary_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    trigger = CronTrigger.from_crontab(settings.canaries.schedule, timezone=settings.canaries.timezone)
    scheduler.add_job(
        inject_job, trigger, args=[database, settings], id="canary_injection",
        max_instances=1, coalesce=True, misfire_grace_time=6 * 3600,
    )
    scheduler.add_job(
        expire_job, "interval", seconds=EXPIRY_INTERVAL_S, args=[database], id="canary_expiry",
        max_instances=1, coalesce=True,
    )
