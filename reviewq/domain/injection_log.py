"""The injection log for leads: what was planted for whom, when, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from reviewq.models import Injection, InjectionOutcome, Item, User

LOG_LIMIT = 500


@dataclass(frozen=True)
class LogRow:
    injection: Injection
    reviewer: str
    item_public_id: str
    item_kind: str
    category: str
    agent: str


def injection_log(
    *, session: Session, reviewer_name: str | None = None, week_start: datetime | None = None, limit: int = LOG_LIMIT
) -> list[LogRow]:
    """Newest planned first; optionally one reviewer, or one week (its Monday, as stored)."""
    query = (
        select(Injection, User.name, Item.public_id, Item.kind, Item.category, Item.agent)
        .join(User, User.id == Injection.reviewer_id)
        .join(Item, Item.id == Injection.item_id)
        .order_by(Injection.scheduled_for.desc(), Injection.id.desc())
        .limit(limit)
    )
    if reviewer_name:
        query = query.where(User.name == reviewer_name)
    if week_start is not None:
        query = query.where(Injection.week_start == week_start)
    return [
        LogRow(injection=inj, reviewer=name, item_public_id=pid, item_kind=kind.value, category=cat, agent=agent)
        for inj, name, pid, kind, cat, agent in session.exec(query).all()
    ]


def outcome_counts(rows: list[LogRow]) -> dict[str, int]:
    counts = {o.value: 0 for o in InjectionOutcome}
    for row in rows:
        counts[row.injection.outcome.value] += 1
    return counts
