"""The scheduler's notification scan reads what is due without the write lock, then writes it in short
chunks that check each approval again (both databases)."""

from __future__ import annotations

from reviewq.domain import notifications
from reviewq.domain.notifications import due_work, scan
from reviewq.models import DeliveryAction, Verdict, utcnow
from reviewq.scheduler import notify_jobs
from reviewq.scheduler.notify_jobs import SCAN_CHUNK, scan_job
from tests.support.api import add_reviewer, decide_next, issue_token
from tests.support.notify import ask_approval, notify_settings, on_call, rows


def test_the_job_announces_and_settles_more_than_a_chunk(database, settings):
    """25 new approvals are announced and 12 decided ones closed out, in chunks of SCAN_CHUNK, once each."""
    settings = notify_settings(settings)
    now = utcnow()  # the job reads the real clock
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now)
    asked = {ask_approval(database, token, settings, now) for _ in range(25)}
    assert 25 > 2 * SCAN_CHUNK
    assert set(scan_job(database, settings).announced) == asked
    decided = {decide_next(database, ada, Verdict.APPROVE, settings=settings, now=utcnow()) for _ in range(12)}
    report = scan_job(database, settings)
    assert {approval for approval, _ in report.settled} == decided and report.announced == []
    assert {status for _, status in report.settled} == {"approved"}
    updates = [m["approval"]["id"] for _, d, m in rows(database) if d.action == DeliveryAction.UPDATE]
    assert sorted(updates) == sorted(decided)  # one update per announcement of a settled approval
    assert scan_job(database, settings).settled == []


def test_work_read_as_due_is_checked_again_when_written(database, settings):
    """A settlement read as due but written by an earlier scan is not written twice."""
    settings = notify_settings(settings)
    now = utcnow()
    token = issue_token(database, now=now)
    ada = add_reviewer(database, "ada", now=now)
    on_call(database, ada, now)
    ask_approval(database, token, settings, now)
    scan_job(database, settings)
    decided = decide_next(database, ada, Verdict.REJECT, settings=settings, now=utcnow())
    with database.session_scope(readonly=True) as s:
        due = due_work(session=s, now=utcnow())
    assert len(due.settle) == 1
    for expected in ([(decided, "denied")], []):
        with database.session_scope() as s:
            assert scan(session=s, settings=settings, now=utcnow(), due=due).settled == expected


def test_the_job_reads_what_is_due_without_the_write_lock(database, settings, writer_meanwhile, monkeypatch):
    """Another writer gets through while the job reads what is due (on SQLite it would wait otherwise)."""
    settings = notify_settings(settings)
    now = utcnow()
    token = issue_token(database, now=now)
    on_call(database, add_reviewer(database, "ada", now=now), now)
    asked = ask_approval(database, token, settings, now)
    wrap, wrote = writer_meanwhile
    monkeypatch.setattr(notifications, "_ids", wrap(notifications._ids))
    assert scan_job(database, settings).announced == [asked]
    assert wrote == [True, True, True]  # before each of the three reads; the first opens the read
    assert notify_jobs.SCAN_CHUNK == SCAN_CHUNK
