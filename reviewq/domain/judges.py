"""Automated judges: an agent token with the `review` scope decides queue items like a person.

Each judge has a reviewer account (no password, so it cannot log in to the web pages) under which
its decisions, sessions and canary scores are recorded, exactly as for a person (VIGILANCE.md §8).
The account is shared by every review token of the same agent, so rotating a token keeps history.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.audit import record_event
from reviewq.domain.errors import Conflict
from reviewq.models import ApiToken, Item, JudgeVerdict, Role, User, Verdict

# Not a werkzeug hash: check_password_hash() refuses it, so nobody can log in as a judge.
NO_PASSWORD = "!automated-judge"


def automated_ids(*, session: Session) -> set[int]:
    """Reviewer accounts that belong to a judge (a review token points at them)."""
    return set(session.execute(
        sa.select(ApiToken.reviewer_id).where(ApiToken.reviewer_id.is_not(None)).distinct()
    ).scalars())


def judge_account(*, session: Session, agent: str, now: datetime, actor: str) -> User:
    """The reviewer account of this agent's judge, made on its first review token."""
    user = session.exec(select(User).where(User.name == agent)).first()
    if user is not None:
        if user.id not in automated_ids(session=session) and user.password_hash != NO_PASSWORD:
            raise Conflict(f"a person is already called {agent!r}; give the judge another agent name", field="agent")
        return user
    user = User(name=agent, role=Role.REVIEWER, active=True, password_hash=NO_PASSWORD, created_at=now)
    session.add(user)
    session.flush()
    record_event(session=session, actor=actor, action="user.created", object_type="user", object_id=user.id,
                 now=now, details={"name": agent, "role": Role.REVIEWER.value, "automated": True})
    return user


def record_judge_verdicts(*, session: Session, outputs: list, results: list) -> int:
    """Store the `judge` verdicts sent with newly queued outputs (a resubmission keeps the first)."""
    wanted = {
        r.public_id: o.judge for o, r in zip(outputs, results, strict=True)
        if o.judge is not None and r.queued and not r.duplicate
    }
    if not wanted:
        return 0
    ids = dict(session.execute(sa.select(Item.public_id, Item.id).where(Item.public_id.in_(list(wanted)))).all())
    for public_id, judge in wanted.items():
        session.add(JudgeVerdict(item_id=ids[public_id], verdict=Verdict(judge.verdict), score=judge.score,
                                 model=judge.model))
    session.flush()
    return len(wanted)
