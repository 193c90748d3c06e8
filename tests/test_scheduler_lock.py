"""Two real `reviewq scheduler` processes against PostgreSQL: one runs jobs, the other takes over."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.config import PROJECT_ROOT
from reviewq.domain.queue import claim_next, decide, enqueue
from reviewq.models import DecisionCreate, Injection, Verdict, utcnow
from tests.factories import make_user, output_item

DEADLINE_S = 60


class Proc:
    """A scheduler subprocess whose stdout lines are read by a thread into a queue."""

    def __init__(self, db_url: str):
        env = {**os.environ, "REVIEWQ_DATABASE_URL": db_url, "REVIEWQ_SERVER_MODE": "test", "PYTHONUNBUFFERED": "1"}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "reviewq", "scheduler", "--inject-on-start", "--poll-seconds", "0.2"],
            cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.put(line.rstrip())

    def wait_for(self, text: str) -> str:
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.05, end - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {DEADLINE_S}s; output so far: {self.seen}")

    def drain(self) -> list[str]:
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                return self.seen

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=DEADLINE_S)


@pytest.mark.parametrize("backend", ["postgres"])
def test_two_schedulers_give_one_injection_and_take_over(backend, db_url, settings, database):
    """One scheduler holds the lock while the other waits, then takes over on its death; the week is planted once."""
    now = utcnow()
    with database.session_scope() as session:
        for name in ("ann", "bob"):
            reviewer = make_user(session, name, now=now - timedelta(days=30))
            for i in range(3):
                t = now - timedelta(days=1, minutes=10 * i + (5 if name == "bob" else 0))
                enqueue(session=session, data=output_item(), now=t - timedelta(minutes=1))
                item = claim_next(session=session, reviewer_id=reviewer.id, now=t, lease_seconds=60)
                decide(session=session, public_id=item.public_id, reviewer=reviewer,
                       data=DecisionCreate(verdict=Verdict.APPROVE), now=t + timedelta(seconds=10), settings=settings)

    first = Proc(db_url)
    second = None
    try:
        assert first.wait_for("injected").endswith("injected 20 items")
        second = Proc(db_url)
        second.wait_for("waiting for the scheduler lock")
        with database.engine.connect() as conn:
            holders = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            ).scalar()
        assert holders >= 1
        assert not any("lock acquired" in line for line in second.drain())
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(timeout=DEADLINE_S)
        second.wait_for("lock acquired")
        assert second.wait_for("injected").endswith("injected 0 items")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    with database.session_scope(readonly=True) as session:
        assert len(session.exec(select(Injection)).all()) == 20
