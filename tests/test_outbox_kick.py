"""A committed decision is sent to its webhook at once, not at the outbox's next interval."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from reviewq.db import Database
from reviewq.models import Verdict, utcnow
from reviewq.scheduler import build_scheduler
from reviewq.scheduler.api_jobs import OUTBOX_JOB_ID
from reviewq.scheduler.outbox_kick import OutboxKicker
from tests.support.api import add_reviewer, ask, decide_next, hook_settings, issue_token
from tests.support.scheduler_process import SchedulerProcess
from tests.support.waiting import until

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
    runs: list[float] = []
    ran = threading.Event()

    def _ran(event):
        if event.job_id == OUTBOX_JOB_ID:
            runs.append(time.monotonic())
            ran.set()

    scheduler.add_listener(_ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        if not database.is_sqlite:
            # PostgreSQL's LISTEN connection kicks once as it connects (for what committed before it
            # listened): let that run end, or it may pass for the decision's kick or come before it.
            assert ran.wait(10), "the listener's first kick did not run the outbox"
            until(lambda: scheduler.get_job(OUTBOX_JOB_ID).next_run_time > datetime.now(UTC) + timedelta(minutes=30))
            runs.clear()
            ran.clear()
        # Its first interval run is an hour away: a run within seconds can only be a kick's.
        assert scheduler.get_job(OUTBOX_JOB_ID).next_run_time > datetime.now(UTC) + timedelta(minutes=30)
        before = time.monotonic()
        committed = _decide_one_approval(database, settings, receiver, utcnow())
        assert ran.wait(10), "no outbox run followed the commit"
        got = receiver.wait_for(1, timeout=10)
        assert len(got) == 1, "the delivery waited for the outbox interval"
        # Kicks may come in twos (the commit, the finished send, PostgreSQL's NOTIFY): each run a kick's.
        assert runs and all(before <= run < committed + 5 for run in runs)
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
        time.sleep(1.0)  # its LISTEN connection is up
        # A first delivery arriving shows the start-up run of the outbox is over (it sent this one,
        # or a kick did after it): the second can then only be sent by a kick.
        token = issue_token(database, now=utcnow())
        ask(database, token, settings, receiver.url, utcnow())
        rita = add_reviewer(database, "rita", now=utcnow())
        decide_next(database, rita, Verdict.APPROVE, settings=settings, now=utcnow())
        assert len(receiver.wait_for(1, timeout=30)) == 1
        ask(database, token, settings, receiver.url, utcnow())
        decide_next(database, rita, Verdict.APPROVE, settings=settings, now=utcnow())
        committed = time.monotonic()
        got = receiver.wait_for(2, timeout=10)
        assert len(got) == 2, "the delivery waited for the outbox interval"
        assert time.monotonic() - committed < 5
    finally:
        scheduler.stop()


def test_shutdown_during_a_kicked_run_does_not_hang():
    """A kick that lands while the outbox runs, then a shutdown waiting for that run: both finish."""
    scheduler = BackgroundScheduler()
    kicker = OutboxKicker(scheduler, "job")
    started, release = threading.Event(), threading.Event()
    runs = []

    def slow_job():
        runs.append(time.monotonic())
        started.set()
        release.wait(5)

    scheduler.add_job(kicker.wrap(slow_job), "interval", seconds=INTERVAL_S, id="job",
                      next_run_time=datetime.now(UTC))
    kicker.start()
    scheduler.start()
    assert started.wait(5)
    kicker.kick()  # arrives mid-run: the job is to run again when it ends
    time.sleep(0.2)
    stopper = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})
    stopper.start()
    time.sleep(0.2)  # shutdown now holds the scheduler's locks, waiting for the run
    release.set()
    stopper.join(timeout=10)
    kicker.stop()
    assert not stopper.is_alive(), "shutdown deadlocked with the kick"
    assert len(runs) == 1
