"""A committed decision is sent to its webhook at once, not at the outbox's next interval."""

from __future__ import annotations

import time

import pytest

from reviewq.db import Database
from reviewq.models import Verdict, utcnow
from reviewq.scheduler import build_scheduler
from tests.support.api import WebhookReceiver, add_reviewer, ask, decide_next, hook_settings, issue_token
from tests.support.scheduler_process import SchedulerProcess


@pytest.fixture
def receiver():
    r = WebhookReceiver().start()
    yield r
    r.stop()


# Far longer than any wait below: a webhook that arrives came from a kick, not from the interval.
INTERVAL_S = 3600


def _decide_one_approval(database, settings, receiver, now) -> float:
    """An approval with a callback, decided and committed; returns when the decision committed."""
    token = issue_token(database, now=now)
    ask(database, token, settings, receiver.url, now)
    rita = add_reviewer(database, "rita", now=now)
    decide_next(database, rita, Verdict.APPROVE, settings=settings, now=now)
    return time.monotonic()


def test_in_process_scheduler_sends_right_after_the_commit(database, settings, receiver):
    """SQLite's single server process (and any process running the scheduler): an in-process signal."""
    settings = hook_settings(settings, receiver.allowed, outbox_interval_s=INTERVAL_S)
    scheduler = build_scheduler(settings, Database.from_settings(settings))
    scheduler.start()
    try:
        time.sleep(0.3)  # the interval job's first run (at start-up) has come and gone
        committed = _decide_one_approval(database, settings, receiver, utcnow())
        got = receiver.wait_for(1, timeout=10)
        assert len(got) == 1, "the delivery waited for the outbox interval"
        assert time.monotonic() - committed < 5
    finally:
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # another process: LISTEN/NOTIFY
def test_scheduler_process_is_kicked_through_notify(db_url, database, settings, receiver):
    """A web worker commits; the separate `reviewq scheduler` hears NOTIFY and sends at once."""
    settings = hook_settings(settings, receiver.allowed)
    scheduler = SchedulerProcess(db_url, args=(), env={
        "REVIEWQ_WEBHOOKS_ALLOWED_HOSTS": receiver.allowed,
        "REVIEWQ_WEBHOOKS_OUTBOX_INTERVAL_S": str(INTERVAL_S),
    })
    try:
        scheduler.wait_for("lock acquired; running jobs")
        time.sleep(1.0)  # its LISTEN connection is up, and the start-up run of the outbox is over
        committed = _decide_one_approval(database, settings, receiver, utcnow())
        got = receiver.wait_for(1, timeout=10)
        assert len(got) == 1, "the delivery waited for the outbox interval"
        assert time.monotonic() - committed < 5
    finally:
        scheduler.stop()
