"""Notification sending writes in batches and runs as its own job, never inside the webhook dispatch.

On SQLite every write transaction queues for the one write lock with the reviewers: one per
delivery (10,000 announcements under the bench's crowd) and two per run when nothing was due
(every commit kicks a run) raised reviewers' p99 and timed the scheduler's jobs out.
"""

from __future__ import annotations

import sqlalchemy as sa

from reviewq.db import Database
from reviewq.models import DeliveryStatus, NotificationDelivery, utcnow
from reviewq.notify import sender
from reviewq.scheduler import build_scheduler
from reviewq.scheduler.api_jobs import dispatch_job
from reviewq.scheduler.outbox_dispatch import OutboxDispatcher
from tests.support.api import add_reviewer, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, run_scan

ANNOUNCED = 40


def _commits(database: Database) -> list[int]:
    """A counter of transactions committed through the write engine from now on."""
    count = [0]
    sa.event.listen(database.engine, "commit", lambda _conn: count.__setitem__(0, count[0] + 1))
    return count


def _announced(database, settings, tmp_path):
    settings = notify_settings(settings, channels={"log": {"type": "log", "path": str(tmp_path / "n.log")}})
    now = utcnow()
    on_call(database, add_reviewer(database, "ada", now=now), now)
    token = issue_token(database, now=now)
    for _ in range(ANNOUNCED):
        ask_approval(database, token, settings, now)
    assert len(run_scan(database, settings, now).announced) == ANNOUNCED
    return settings, now


def _pending(database) -> int:
    with database.session_scope(readonly=True) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(NotificationDelivery)
                        .where(NotificationDelivery.status == DeliveryStatus.PENDING))


def test_results_are_written_in_one_transaction_per_batch(database, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(sender, "RECORD_EVERY_S", 3600.0)  # only the batch size ends a batch here
    settings, now = _announced(database, settings, tmp_path)
    commits = _commits(database)
    report = sender.deliver_notifications(database, settings, now)
    assert report.delivered == ANNOUNCED and _pending(database) == 0
    # Claim posts, record them a batch at a time, claim updates (none): not one per delivery.
    assert sender.RECORD_BATCH < ANNOUNCED
    assert commits[0] <= ANNOUNCED // sender.RECORD_BATCH + 2 < ANNOUNCED, commits[0]


def test_a_run_with_nothing_due_writes_nothing(database, settings, tmp_path):
    settings, now = _announced(database, settings, tmp_path)
    sender.deliver_notifications(database, settings, now)
    commits = _commits(database)
    assert sender.deliver_notifications(database, settings, now) == sender.NotifyReport()
    assert commits[0] == 0


def test_webhook_dispatch_does_not_send_notifications(database, settings, tmp_path):
    """Sending is the notify_send job's: a slow channel cannot hold the webhooks back."""
    settings, _now = _announced(database, settings, tmp_path)
    jobs = build_scheduler(settings, database)
    jobs.start(paused=True)  # started only so that shutdown lets its kickers go
    try:
        assert {"notify_send", "webhook_outbox"} <= {job.id for job in jobs.get_jobs()}
    finally:
        jobs.shutdown(wait=True)
    dispatcher = OutboxDispatcher(database, settings, clock=utcnow)
    try:
        dispatch_job(dispatcher)
    finally:
        dispatcher.shutdown()
    assert _pending(database) == ANNOUNCED


def _webhook_settings(settings, receiver, **notify):
    import base64
    import secrets

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    spec = {"type": "webhook", "url": receiver.url, "secret": secret}
    return notify_settings(settings, channels={"team": spec}, default_channel="team", escalation_channel="team",
                           **notify)


def _deliveries(database) -> list[NotificationDelivery]:
    with database.session() as s:
        return list(s.scalars(sa.select(NotificationDelivery).order_by(NotificationDelivery.id)))


def _announce(database, settings, now, count: int) -> None:
    on_call(database, add_reviewer(database, "ada", now=now), now)
    token = issue_token(database, now=now)
    for _ in range(count):
        ask_approval(database, token, settings, now)
    assert len(run_scan(database, settings, now).announced) == count


def test_each_result_of_one_batch_is_written_to_its_own_row(database, settings, now):
    """Delivered, gone (410), failed for good and retrying, recorded together, each as its own outcome."""
    from datetime import timedelta

    from tests.support.api import WebhookReceiver

    statuses = [204, 410, 500, 503]
    receiver = WebhookReceiver(respond=lambda n: statuses[n] if n < len(statuses) else 500).start()
    try:
        settings = _webhook_settings(settings, receiver, max_attempts=2)
        _announce(database, settings, now, len(statuses))
        report = sender.deliver_notifications(database, settings, now)
        assert (report.delivered, report.failed, report.retrying) == (1, 1, 2)
        rows = _deliveries(database)
        assert [r.status for r in rows] == [DeliveryStatus.DELIVERED, DeliveryStatus.DISABLED,
                                            DeliveryStatus.PENDING, DeliveryStatus.PENDING]
        assert [r.attempts for r in rows] == [1, 1, 1, 1]
        assert [r.last_status_code for r in rows] == statuses
        assert [r.last_error for r in rows] == [None, "HTTP 410", "HTTP 500", "HTTP 503"]
        assert rows[0].delivered_at == now and all(r.delivered_at is None for r in rows[1:])
        assert rows[0].next_attempt_at is None and rows[1].next_attempt_at is None
        assert rows[2].next_attempt_at > now and rows[3].next_attempt_at == now + timedelta(seconds=7)  # Retry-After
        # Their second attempt is their last (max_attempts = 2): both fail for good.
        report = sender.deliver_notifications(database, settings, now + timedelta(hours=1))
        assert (report.delivered, report.failed, report.retrying) == (0, 2, 0)
        assert [(r.status, r.attempts) for r in _deliveries(database)[2:]] == [(DeliveryStatus.FAILED, 2)] * 2
    finally:
        receiver.stop()


def test_a_row_settled_while_its_batch_was_sent_keeps_its_state(database, settings, now):
    """A delivery another writer settled mid-send (say, disabled by an operator) is not overwritten."""
    from tests.support.api import WebhookReceiver

    def respond(n: int) -> int:
        if n == 0:  # while the first is being sent, the second is settled elsewhere
            with database.session_scope() as s:
                second = s.scalars(sa.select(NotificationDelivery).order_by(NotificationDelivery.id)).all()[1]
                second.status, second.next_attempt_at = DeliveryStatus.DISABLED, None
        return 204

    receiver = WebhookReceiver(respond=respond).start()
    try:
        settings = _webhook_settings(settings, receiver)
        _announce(database, settings, now, 2)
        report = sender.deliver_notifications(database, settings, now)
        assert len(receiver.received) == 2 and report.delivered == 1
        first, second = _deliveries(database)
        assert (first.status, first.attempts) == (DeliveryStatus.DELIVERED, 1)
        assert (second.status, second.attempts, second.last_status_code) == (DeliveryStatus.DISABLED, 0, None)
    finally:
        receiver.stop()


def test_a_run_claims_again_while_its_batches_come_full(database, settings, tmp_path, monkeypatch):
    """A backlog larger than one claim is sent in one run, a claim at a time, not one claim per interval."""
    settings, now = _announced(database, settings, tmp_path)
    claims = []
    claim = sender._claim

    def counted(*args, **kwargs):
        claimed, full = claim(*args, **kwargs)
        claims.append((len(claimed), full))
        return claimed, full

    monkeypatch.setattr(sender, "_claim", counted)
    report = sender.deliver_notifications(database, settings, now, limit=15)
    assert report.delivered == ANNOUNCED and _pending(database) == 0
    # Posts and updates (none here) per round: 15 + 15 + 10 posts, the last round not full.
    assert claims == [(15, True), (0, False), (15, True), (0, False), (10, False), (0, False)]


def test_a_run_stops_claiming_after_its_time(database, settings, tmp_path, monkeypatch):
    """Past DRAIN_S a run ends after its current round; the rest waits for the next run."""
    monkeypatch.setattr(sender, "DRAIN_S", 0.0)
    settings, now = _announced(database, settings, tmp_path)
    assert sender.deliver_notifications(database, settings, now, limit=15).delivered == 15
    assert _pending(database) == ANNOUNCED - 15
    assert sender.deliver_notifications(database, settings, now, limit=15).delivered == 15
