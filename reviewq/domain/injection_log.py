"""The injection log for leads: what was planted for whom, when, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.models import Injection, InjectionKind, InjectionOutcome, Item, User

LOG_LIMIT = 500


@dataclass(frozen=True)
class LogRow:
    injection: Injection
    reviewer: str
    item_public_id: str
    item_kind: str
    category: str
    agent: str


@dataclass(frozen=True)
class LogFilter:
    """Which injections a lead asked for; None means any."""

    reviewer_name: str | None = None
    week_start: datetime | None = None
    outcome: InjectionOutcome | None = None
    kind: InjectionKind | None = None

    def apply(self, query, *, with_outcome: bool = True):
        if self.reviewer_name:
            query = query.where(User.name == self.reviewer_name)
        if self.week_start is not None:
            query = query.where(Injection.week_start == self.week_start)
        if self.kind is not None:
            query = query.where(Injection.kind == self.kind)
        if with_outcome and self.outcome is not None:
            query = query.where(Injection.outcome == self.outcome)
        return query


def injection_log(
    *, session: Session, reviewer_name: str | None = None, week_start: datetime | None = None, limit: int = LOG_LIMIT,
    offset: int = 0, where: LogFilter | None = None,
) -> list[LogRow]:
    """Newest planned first; optionally one reviewer, or one week (its Monday, as stored), or `where`."""
    where = where or LogFilter(reviewer_name=reviewer_name, week_start=week_start)
    query = where.apply(
        select(Injection, User.name, Item.public_id, Item.kind, Item.category, Item.agent)
        .join(User, User.id == Injection.reviewer_id)
        .join(Item, Item.id == Injection.item_id)
        .order_by(Injection.scheduled_for.desc(), Injection.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [
        LogRow(injection=inj, reviewer=name, item_public_id=pid, item_kind=kind.value, category=cat, agent=agent)
        for inj, name, pid, kind, cat, agent in session.exec(query).all()
    ]


def log_counts(*, session: Session, where: LogFilter) -> dict[str, int]:
    """Injections per outcome under every filter but the outcome (so the counts stay a summary)."""
    query = where.apply(
        select(Injection.outcome, sa.func.count(Injection.id))
        .join(User, User.id == Injection.reviewer_id)
        .group_by(Injection.outcome),
        with_outcome=False,
    )
    counts = {o.value: 0 for o in InjectionOutcome}
    for outcome, n in session.exec(query).all():
        counts[getattr(outcome, "value", outcome)] = n
    return counts


def log_weeks(*, session: Session) -> list[datetime]:
    """Every injection week on record, latest first (the week filter's choices)."""
    return list(session.exec(select(Injection.week_start).distinct().order_by(Injection.week_start.desc())).all())


def outcome_counts(rows: list[LogRow]) -> dict[str, int]:
    counts = {o.value: 0 for o in InjectionOutcome}
    for row in rows:
        counts[row.injection.outcome.value] += 1
    return counts
