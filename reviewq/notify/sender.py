"""Sending the notification outbox after commit, with retries and backoff like the webhook outbox.

The notification send job (scheduler/notify_jobs.py) runs `deliver_notifications` whenever a
delivery commits, beside the webhook outbox but not inside it, so a slow channel never holds
webhooks back. Claiming pushes a row's next attempt past the attempt's timeout (a lease), so a
crash mid-send resends it later with the same delivery id. An update waits for its message's
first post (Slack needs the post's `ts`); if that post was given up, the update is posted as a
new message instead.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.models import DeliveryAction, DeliveryStatus, Notification, NotificationDelivery
from reviewq.notify.channels import Channel, Outgoing, SendResult, build_channel
from reviewq.notify.settings import channel_specs
from reviewq.scheduler.outbox import retry_at

CLAIM_BATCH = 100
# Results are written in one transaction per this many sends (or per RECORD_EVERY_S of sending):
# one write transaction per delivery queued 10,000 announcements behind reviewers' writes on SQLite,
# and 50 at once held the write lock for 30 ms, in the reviewers' p99.
RECORD_BATCH = 10
RECORD_EVERY_S = 2.0
WAIT_FOR_POST_S = 5  # an update whose post is still being sent looks again after this


@dataclass
class NotifyReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0


@dataclass(frozen=True)
class _Claimed:
    id: int
    notification_id: int
    channel: str
    out: Outgoing


def _post_state(session, notification_id: int) -> DeliveryStatus | None:
    return session.exec(
        select(NotificationDelivery.status).where(
            NotificationDelivery.notification_id == notification_id,
            NotificationDelivery.action == DeliveryAction.POST,
        ).order_by(NotificationDelivery.id).limit(1)
    ).first()


def _any_due(database: Database, now: datetime) -> bool:
    with database.session_scope(readonly=True) as session:
        return session.exec(
            select(NotificationDelivery.id).where(NotificationDelivery.status == DeliveryStatus.PENDING,
                                                  NotificationDelivery.next_attempt_at <= now).limit(1)
        ).first() is not None


def _claim(database: Database, now: datetime, lease: timedelta, limit: int, report: NotifyReport,
           action: DeliveryAction) -> list[_Claimed]:
    with database.session_scope() as session:
        query = (
            select(NotificationDelivery, Notification.remote_ref)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(NotificationDelivery.status == DeliveryStatus.PENDING, NotificationDelivery.next_attempt_at <= now,
                   NotificationDelivery.action == action)
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=NotificationDelivery)
        claimed = []
        for row, remote_ref in session.exec(query).all():
            action = row.action
            if action == DeliveryAction.UPDATE and remote_ref is None:
                if _post_state(session, row.notification_id) == DeliveryStatus.PENDING:
                    row.next_attempt_at = now + timedelta(seconds=WAIT_FOR_POST_S)
                    session.add(row)
                    report.deferred += 1
                    continue
                action = DeliveryAction.POST  # the post was given up: this update becomes the message
            row.next_attempt_at = now + lease
            session.add(row)
            out = Outgoing(delivery_id=row.delivery_id, action=action.value, message=json.loads(row.body),
                           remote_ref=remote_ref, at=row.created_at, sent_at=now)
            claimed.append(_Claimed(row.id, row.notification_id, row.channel, out))
        return claimed


def _record(database: Database, sent: list[tuple[_Claimed, SendResult]], settings: Settings, now: datetime,
            rng: random.Random, report: NotifyReport) -> None:
    """The results of several sends, in one transaction."""
    if not sent:
        return
    with database.session_scope() as session:
        for claimed, result in sent:
            _record_one(session, claimed, result, settings, now, rng, report)


def _record_one(session, claimed: _Claimed, result: SendResult, settings: Settings, now: datetime,
                rng: random.Random, report: NotifyReport) -> None:
    row = session.get(NotificationDelivery, claimed.id)
    if row is None or row.status != DeliveryStatus.PENDING:
        return
    row.attempts += 1
    row.last_attempt_at, row.last_status_code, row.last_error = now, result.status, result.error
    if result.ok:
        row.status, row.delivered_at, row.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        report.delivered += 1
        if claimed.out.action == DeliveryAction.POST.value and result.remote_ref:
            session.execute(
                sa.update(Notification)
                .where(Notification.id == claimed.notification_id, Notification.remote_ref.is_(None))
                .values(remote_ref=result.remote_ref[:200])
                .execution_options(synchronize_session=False)
            )
    elif result.status == 410:
        row.status, row.next_attempt_at = DeliveryStatus.DISABLED, None
        report.failed += 1
    elif row.attempts >= settings.notify.max_attempts:
        row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
        report.failed += 1
    else:
        row.next_attempt_at = retry_at(attempts=row.attempts, status=result.status,
                                       retry_after=result.retry_after, now=now, rng=rng)
        report.retrying += 1
    session.add(row)


def build_channels(settings: Settings) -> dict[str, Channel]:
    return {name: build_channel(spec, settings.base_dir) for name, spec in channel_specs(settings.notify).items()}


def deliver_notifications(database: Database, settings: Settings, now: datetime, *, rng: random.Random | None = None,
                          limit: int = CLAIM_BATCH) -> NotifyReport:
    """Send every notification delivery due at `now` once."""
    rng = rng or random.Random()
    report = NotifyReport()
    if not _any_due(database, now):  # most runs (every commit kicks one): no write transaction
        return report
    channels = build_channels(settings)
    lease = timedelta(seconds=settings.notify.timeout_s + 30)
    # Posts first, so an update due in the same run finds the reference its post just got.
    for action in (DeliveryAction.POST, DeliveryAction.UPDATE):
        sent: list[tuple[_Claimed, SendResult]] = []
        since = time.monotonic()
        for claimed in _claim(database, now, lease, limit, report, action):
            channel = channels.get(claimed.channel)
            if channel is None:
                result = SendResult(False, error=f"channel {claimed.channel!r} is no longer configured")
            else:
                result = channel.send(claimed.out, timeout=settings.notify.timeout_s)
            sent.append((claimed, result))
            # A slow channel's results are written as they come, well inside the claim's lease.
            if len(sent) >= RECORD_BATCH or time.monotonic() - since >= RECORD_EVERY_S:
                _record(database, sent, settings, now, rng, report)
                sent, since = [], time.monotonic()
        _record(database, sent, settings, now, rng, report)
    return report
