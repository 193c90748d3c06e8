"""Two real `reviewq scheduler` processes against PostgreSQL: one runs jobs, the other takes over."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import CanaryBudget, DecisionCreate, Verdict, utcnow
from tests.factories import make_user, output_item
from tests.support.scheduler_process import DEADLINE_S, SchedulerProcess


@pytest.mark.parametrize("backend", ["postgres"])
def test_two_schedulers_give_one_injection_and_take_over(backend, db_url, settings, database):
    """One scheduler holds the lock while the other waits, then takes over on its death; the week is budgeted once."""
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

    first = SchedulerProcess(db_url)
    second = None
    try:
        assert first.wait_for("budgets drawn").endswith("canary budgets drawn for 2 reviewers")
        second = SchedulerProcess(db_url)
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
        assert second.wait_for("budgets drawn").endswith("canary budgets drawn for 0 reviewers")
    finally:
        first.stop()
        if second is not None:
            second.stop()
    with database.session_scope(readonly=True) as session:
        assert len(session.exec(select(CanaryBudget)).all()) == 2
