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
# One run claims batch after batch while they come full, for up to this long (the scan interval's default).
DRAIN_S = 5.0
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
           action: DeliveryAction) -> tuple[list[_Claimed], bool]:
    """The deliveries claimed (their lease taken), and whether the query found `limit` due."""
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
        due = session.exec(query).all()
        for row, remote_ref in due:
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
        return claimed, len(due) >= limit


def _record(database: Database, sent: list[tuple[_Claimed, SendResult]], settings: Settings, now: datetime,
            rng: random.Random, report: NotifyReport) -> None:
    """The results of several sends, in one transaction of three statements whatever their number.

    Row by row through the ORM (a load, a flush, a reference update each) cost about 1.8 ms of CPU
    a delivery: a burst of 10,000 approvals (20,000 notifications) took over 300 s to send, and
    each run held the GIL 150-200 ms beside the reviewers' requests.
    """
    if not sent:
        return
    with database.session_scope() as session:
        connection = session.connection()
        attempts_of = dict(connection.execute(
            sa.select(_DELIVERY.c.id, _DELIVERY.c.attempts)
            .where(_DELIVERY.c.id.in_([claimed.id for claimed, _ in sent]),
                   _DELIVERY.c.status == DeliveryStatus.PENDING)
        ).all())
        rows, references = [], []
        for claimed, result in sent:
            if claimed.id not in attempts_of:  # gone, or settled meanwhile: not ours to write
                continue
            rows.append(_outcome(claimed, result, attempts_of[claimed.id] + 1, settings, now, rng, report))
            if result.ok and claimed.out.action == DeliveryAction.POST.value and result.remote_ref:
                references.append({"b_notification": claimed.notification_id, "b_ref": result.remote_ref[:200]})
        if rows:
            connection.execute(_RECORD_RESULT, rows)
        if references:
            connection.execute(_KEEP_REFERENCE, references)


_DELIVERY = NotificationDelivery.__table__
_RESULT_COLUMNS = ("status", "attempts", "last_attempt_at", "last_status_code", "last_error", "delivered_at",
                   "next_attempt_at")
# Guarded by status as the ORM path was by its load: a row settled meanwhile keeps its state.
_RECORD_RESULT = (
    sa.update(_DELIVERY)
    .where(_DELIVERY.c.id == sa.bindparam("b_id"), _DELIVERY.c.status == DeliveryStatus.PENDING)
    .values({name: sa.bindparam(f"b_{name}", type_=_DELIVERY.c[name].type) for name in _RESULT_COLUMNS})
)
_NOTIFICATION = Notification.__table__
_KEEP_REFERENCE = (  # the first post's reference only: updates edit that message
    sa.update(_NOTIFICATION)
    .where(_NOTIFICATION.c.id == sa.bindparam("b_notification"), _NOTIFICATION.c.remote_ref.is_(None))
    .values(remote_ref=sa.bindparam("b_ref"))
)


def _outcome(claimed: _Claimed, result: SendResult, attempts: int, settings: Settings, now: datetime,
             rng: random.Random, report: NotifyReport) -> dict:
    """The delivery row's new values after this attempt (as `_RECORD_RESULT`'s parameters)."""
    status, delivered_at, next_attempt_at = DeliveryStatus.PENDING, None, None
    if result.ok:
        status, delivered_at = DeliveryStatus.DELIVERED, now
        report.delivered += 1
    elif result.status == 410:
        status = DeliveryStatus.DISABLED
        report.failed += 1
    elif attempts >= settings.notify.max_attempts:
        status = DeliveryStatus.FAILED
        report.failed += 1
    else:
        next_attempt_at = retry_at(attempts=attempts, status=result.status, retry_after=result.retry_after,
                                   now=now, rng=rng)
        report.retrying += 1
    values = {"status": status, "attempts": attempts, "last_attempt_at": now, "last_status_code": result.status,
              "last_error": result.error and result.error[:500], "delivered_at": delivered_at,
              "next_attempt_at": next_attempt_at}
    return {"b_id": claimed.id, **{f"b_{name}": value for name, value in values.items()}}


def build_channels(settings: Settings) -> dict[str, Channel]:
    return {name: build_channel(spec, settings.base_dir) for name, spec in channel_specs(settings.notify).items()}


def deliver_notifications(database: Database, settings: Settings, now: datetime, *, rng: random.Random | None = None,
                          limit: int = CLAIM_BATCH) -> NotifyReport:
    """Send the notification deliveries due at `now`, `limit` at a time, for up to DRAIN_S.

    Each claim after the first is made only when the one before found `limit` rows: a burst of
    approvals (20,000 notifications for 10,000) drains at the channels' pace, not at `limit` per
    scan interval (over 300 s behind the announcements). Past DRAIN_S the next run goes on.
    """
    rng = rng or random.Random()
    report = NotifyReport()
    if not _any_due(database, now):  # most runs (every commit kicks one): no write transaction
        return report
    channels = build_channels(settings)
    lease = timedelta(seconds=settings.notify.timeout_s + 30)
    started = time.monotonic()
    while True:
        # Posts first, so an update due in the same run finds the reference its post just got.
        full = [_send_batch(database, settings, channels, action, now, lease, limit, rng, report)
                for action in (DeliveryAction.POST, DeliveryAction.UPDATE)]
        if not any(full) or time.monotonic() - started >= DRAIN_S:
            return report


def _send_batch(database: Database, settings: Settings, channels: dict[str, Channel], action: DeliveryAction,
                now: datetime, lease: timedelta, limit: int, rng: random.Random, report: NotifyReport) -> bool:
    """Claim up to `limit` deliveries of `action`, send them and record the results; whether `limit` were due."""
    claimed_batch, full = _claim(database, now, lease, limit, report, action)
    sent: list[tuple[_Claimed, SendResult]] = []
    since = time.monotonic()
    for claimed in claimed_batch:
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
    return full
