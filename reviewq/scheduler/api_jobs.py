"""Scheduler jobs of the agent API: expire timed-out approvals, send the webhook outbox."""

from __future__ import annotations

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.base import BaseScheduler

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.approvals import expire_due
from reviewq.models import utcnow
from reviewq.scheduler.outbox import DeliveryReport, deliver_due
from reviewq.scheduler.outbox_dispatch import OutboxDispatcher
from reviewq.scheduler.outbox_kick import OutboxKicker, kick_on_delivery


def expire_approvals_job(database: Database, settings: Settings) -> int:
    """One transaction: expire what is due (deny unless configured), with outbox rows and wake-ups."""
    with database.session_scope() as session:
        return len(expire_due(session=session, now=utcnow(), settings=settings))


def outbox_job(database: Database, settings: Settings) -> DeliveryReport:
    """One full pass, waiting for every send (for scripts and operators; the scheduler does not wait)."""
    return deliver_due(database, settings, utcnow())


def dispatch_job(dispatcher: OutboxDispatcher) -> int:
    """Start the sends that may start now; finished ones kick this job again."""
    return dispatcher.run(utcnow())


def add_api_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    scheduler.add_job(
        expire_approvals_job, "interval", seconds=settings.approvals.expiry_interval_s,
        args=[database, settings], id="approval_expiry", max_instances=1, coalesce=True,
    )
    # The interval is the safety net (retries, a missed signal); a committed delivery kicks it,
    # and so does every finished send (its endpoint has a free slot again).
    kicker = OutboxKicker(scheduler, OUTBOX_JOB_ID)
    dispatcher = OutboxDispatcher(database, settings, clock=utcnow, on_done=kicker.kick)
    scheduler.add_job(
        kicker.wrap(dispatch_job), "interval", seconds=settings.webhooks.outbox_interval_s,
        args=[dispatcher], id=OUTBOX_JOB_ID, max_instances=1, coalesce=True,
    )
    kick_on_delivery(scheduler, kicker, database)
    scheduler.add_listener(lambda _event: dispatcher.shutdown(), EVENT_SCHEDULER_SHUTDOWN)


OUTBOX_JOB_ID = "webhook_outbox"
