"""Scheduler jobs of the canaries: the weekly budgets (cron), the expiry of unseen items, the reservoir purge."""

from __future__ import annotations

import logging
import random

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain import reservoir
from reviewq.domain.injection import expire_unseen, plan_week
from reviewq.models import utcnow

log = logging.getLogger(__name__)

EXPIRY_INTERVAL_S = 600  # unseen planted items expire within 10 minutes of the week's end


def inject_job(database: Database, settings: Settings) -> int:
    """The weekly run: every active reviewer's canary and control budget (projection spends it)."""
    with database.session_scope() as session:
        budgets = plan_week(session=session, settings=settings, now=utcnow(), rng=random.SystemRandom())
    log.info("canary budgets drawn for %d reviewers", len(budgets))
    return len(budgets)


def expire_job(database: Database, settings: Settings | None = None) -> int:
    """Unseen planted items expire; reservoir outputs past the source window are purged."""
    with database.session_scope() as session:
        expired = expire_unseen(session=session, now=utcnow())
        if settings is not None:
            reservoir.purge(session=session, settings=settings.canaries, now=utcnow())
        return expired


def add_canary_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    trigger = CronTrigger.from_crontab(settings.canaries.schedule, timezone=settings.canaries.timezone)
    scheduler.add_job(
        inject_job, trigger, args=[database, settings], id="canary_injection",
        max_instances=1, coalesce=True, misfire_grace_time=6 * 3600,
    )
    scheduler.add_job(
        expire_job, "interval", seconds=EXPIRY_INTERVAL_S, args=[database, settings], id="canary_expiry",
        max_instances=1, coalesce=True,
    )
