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
