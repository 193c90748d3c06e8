"""The process's SQLite write turn (reviewq.write_lock): handed over in order, the web's writers
before the scheduler's, and only once the last writer's COMMIT is done.

The lock exists only for SQLite (PostgreSQL locks rows, not the database), so the engine tests
below run on a SQLite file of their own.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from reviewq.db import Database, _write_lock_for
from reviewq.write_lock import WriteLock
from tests.conftest import make_test_settings
from tests.support.waiting import WAIT_S, until


def _queue(lock: WriteLock, order: list[str], name: str, *, background: bool = False,
           timeout: float = WAIT_S) -> threading.Thread:
    """A thread that waits for a turn, notes its name, and lets go; returns once it is queued."""
    before = lock.waiting()

    def run():
        if lock.acquire(timeout=timeout, background=background):
            order.append(name)
            lock.release()
        else:
            order.append(f"{name}: gave up")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    until(lambda: lock.waiting() > before)
    return thread


def test_turns_go_in_arrival_order():
    lock, order = WriteLock(), []
    assert lock.acquire(timeout=WAIT_S)
    threads = [_queue(lock, order, name) for name in ("b", "c", "d")]
    lock.release()
    for t in threads:
        t.join(WAIT_S)
    assert order == ["b", "c", "d"] and not lock.locked()


def test_a_request_goes_before_a_background_job_that_queued_first():
    lock, order = WriteLock(background_patience_s=WAIT_S), []
    assert lock.acquire(timeout=WAIT_S)
    threads = [_queue(lock, order, "job", background=True), _queue(lock, order, "request")]
    lock.release()
    for t in threads:
        t.join(WAIT_S)
    assert order == ["request", "job"]


def test_a_job_that_waited_its_patience_goes_next():
    """A steady stream of requests never starves the scheduler."""
    lock, order = WriteLock(background_patience_s=0.05), []
    assert lock.acquire(timeout=WAIT_S)
    job = _queue(lock, order, "job", background=True)
    time.sleep(0.06)
    request = _queue(lock, order, "request")
    lock.release()
    for t in (job, request):
        t.join(WAIT_S)
    assert order == ["job", "request"]


def test_a_waiter_that_gives_up_leaves_the_queue():
    lock, order = WriteLock(), []
    assert lock.acquire(timeout=WAIT_S)
    quitter = _queue(lock, order, "quitter", timeout=0.05)
    quitter.join(WAIT_S)
    assert order == ["quitter: gave up"] and lock.waiting() == 0
    lock.release()
    assert not lock.locked()
    assert lock.acquire(timeout=0)  # free at once, not handed to the one who left
    lock.release()


def test_no_turn_is_lost_or_doubled_under_contention():
    """Many threads, both kinds, short timeouts: every turn is exclusive and the lock ends free."""
    lock = WriteLock(background_patience_s=0.002)
    inside, overlaps, done = [0], [], []
    guard = threading.Lock()

    def worker(background: bool):
        for _ in range(200):
            if not lock.acquire(timeout=0.5, background=background):
                continue
            with guard:
                inside[0] += 1
                if inside[0] > 1:
                    overlaps.append(1)
            with guard:
                inside[0] -= 1
            lock.release()
            done.append(1)

    threads = [threading.Thread(target=worker, args=(i % 3 == 0,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not overlaps and len(done) == 9 * 200
    assert not lock.locked() and lock.waiting() == 0


@pytest.fixture
def sqlite_settings(tmp_path):
    from sqlmodel import SQLModel

    settings = make_test_settings(f"sqlite:///{tmp_path / 'lock.db'}")
    setup = Database.from_settings(settings)
    SQLModel.metadata.create_all(setup.engine)
    setup.dispose()
    return settings


def test_the_turn_passes_only_after_the_commit_is_done(sqlite_settings, monkeypatch):
    """The next writer never meets a COMMIT still in progress: its BEGIN IMMEDIATE then slept in
    SQLite's busy handler, a millisecond of every transaction while the lock was busy."""
    database = Database.from_settings(sqlite_settings)
    lock = _write_lock_for(sqlite_settings.database.url)
    path = sa.engine.make_url(sqlite_settings.database.url).database
    seen_at_release: list[int] = []
    plain_release = lock.release

    def release():
        with sqlite3.connect(path) as other:  # another connection: sees only what is committed
            seen_at_release.append(other.execute("SELECT count(*) FROM rate_counters").fetchone()[0])
        plain_release()

    monkeypatch.setattr(lock, "release", release)
    try:
        for n in range(3):
            with database.session_scope() as session:
                session.execute(sa.text("INSERT INTO rate_counters (key, window_start, count) "
                                        "VALUES (:k, '2026-01-01 00:00:00', 1)"), {"k": f"k{n}"})
        assert seen_at_release == [1, 2, 3]
    finally:
        database.dispose()


def test_the_scheduler_writes_after_the_web(sqlite_settings):
    """The in-process scheduler's engine queues behind the web's writers (start_in_process)."""
    web = Database.from_settings(sqlite_settings)
    scheduler = Database.from_settings(sqlite_settings, background=True)
    lock = _write_lock_for(sqlite_settings.database.url)
    order: list[str] = []

    def write(database: Database, name: str):
        with database.session_scope() as session:
            session.execute(sa.text("SELECT 1"))
            order.append(name)

    try:
        holder = web.session()
        holder.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: this session holds the turn
        job = threading.Thread(target=write, args=(scheduler, "scheduler"))
        job.start()
        until(lambda: lock.waiting() == 1)
        request = threading.Thread(target=write, args=(web, "web"))
        request.start()
        until(lambda: lock.waiting() == 2)
        holder.commit()
        holder.close()
        for t in (job, request):
            t.join(WAIT_S)
        assert order == ["web", "scheduler"]
    finally:
        web.dispose()
        scheduler.dispose()


def test_start_in_process_gives_the_scheduler_a_background_engine(sqlite_settings, monkeypatch):
    from reviewq.scheduler import runner

    made: list[bool] = []
    plain = Database.from_settings

    def from_settings(settings, *, background=False):
        made.append(background)
        return plain(settings, background=background)

    monkeypatch.setattr(runner.Database, "from_settings", staticmethod(from_settings))
    scheduler = runner.start_in_process(sqlite_settings)
    try:
        assert made == [True]
    finally:
        scheduler.shutdown(wait=False)


def test_a_connection_invalidated_mid_transaction_lets_go(sqlite_settings):
    """No ROLLBACK is sent on an invalidated connection, so its turn is given back as it is dropped."""
    database = Database.from_settings(sqlite_settings)
    lock = _write_lock_for(sqlite_settings.database.url)
    try:
        session = database.session()
        session.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: holds the turn
        assert lock.locked()
        session.connection().invalidate()
        assert not lock.locked()
        session.close()
        with database.session_scope() as again:  # the next writer gets in at once
            again.execute(sa.text("SELECT 1"))
    finally:
        database.dispose()
