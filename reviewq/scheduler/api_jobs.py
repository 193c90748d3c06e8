"""Scheduler jobs of the agent API: expire timed-out approvals, send the webhook outbox."""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.domain.approvals import expire_due
from reviewq.models import utcnow
from reviewq.scheduler.outbox import DeliveryReport, deliver_due
from reviewq.scheduler.outbox_kick import OutboxKicker, kick_on_delivery


def expire_approvals_job(database: Database, settings: Settings) -> int:
    """One transaction: expire what is due (deny unless configured), with outbox rows and wake-ups."""
    with database.session_scope() as session:
        return len(expire_due(session=session, now=utcnow(), settings=settings))


def outbox_job(database: Database, settings: Settings) -> DeliveryReport:
    report = deliver_due(database, settings, utcnow())
    # Notifications share the outbox (and its kick): reviewq.notify.sender, after the webhooks.
    from reviewq.scheduler.notify_jobs import deliver_notifications_safely

    deliver_notifications_safely(database, settings)
    return report


def add_api_jobs(scheduler: BaseScheduler, settings: Settings, database: Database) -> None:
    scheduler.add_job(
        expire_approvals_job, "interval", seconds=settings.approvals.expiry_interval_s,
        args=[database, settings], id="approval_expiry", max_instances=1, coalesce=True,
    )
    # The interval is the safety net (retries, a missed signal); a committed delivery kicks it.
    kicker = OutboxKicker(scheduler, OUTBOX_JOB_ID)
    scheduler.add_job(
        kicker.wrap(outbox_job), "interval", seconds=settings.webhooks.outbox_interval_s,
        args=[database, settings], id=OUTBOX_JOB_ID, max_instances=1, coalesce=True,
    )
    kick_on_delivery(scheduler, kicker, database)


OUTBOX_JOB_ID = "webhook_outbox"
