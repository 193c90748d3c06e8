"""Failure buckets over time: real rejects (never canaries, controls or blind copies) by reason
bucket per week, per agent and per category, with the reviewers' notes.

"Categorise the last hundred failures and see which bucket grows": counts are grouped by UTC day
in SQL (a few hundred rows at most) and rolled into ISO weeks here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlmodel import Session

from reviewq.models import Decision, Injection, Item, OverlapReview, User, Verdict
from reviewq.stats.filters import Filters

NOTES_SHOWN = 100


class utc_day(FunctionElement):  # noqa: N801 - reads like the SQL it renders
    """The UTC calendar day of a timestamp, as text YYYY-MM-DD on both backends."""

    type = sa.String()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day)
def _utc_day_pg(element, compiler, **kw):
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"  # stored as naive UTC


@dataclass(frozen=True)
class FailureFilters:
    range: Filters
    agent: str | None = None
    reason: str | None = None


def _real_rejects(filters: FailureFilters):
    conditions = [
        Decision.verdict == Verdict.REJECT,
        Decision.decided_at >= filters.range.since, Decision.decided_at < filters.range.until,
        ~sa.exists().where(Injection.item_id == Decision.item_id),
        ~sa.exists().where(OverlapReview.copy_item_id == Decision.item_id),
    ]
    if filters.range.category:
        conditions.append(Item.category == filters.range.category)
    if filters.agent:
        conditions.append(Item.agent == filters.agent)
    if filters.reason:
        conditions.append(Decision.reason == filters.reason)
    return conditions


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _reason(value) -> str:
    return getattr(value, "value", value) or "other"


def failure_counts(*, session: Session, filters: FailureFilters) -> dict[str, Any]:
    """Rejects per bucket per week, per bucket per agent and per bucket per category."""
    day = utc_day(Decision.decided_at)
    query = (
        sa.select(day, Decision.reason, Item.agent, Item.category, sa.func.count())
        .select_from(Decision).join(Item, Item.id == Decision.item_id)
        .where(*_real_rejects(filters))
        .group_by(day, Decision.reason, Item.agent, Item.category)
    )
    weekly: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    by_agent: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    total = 0
    for day_text, reason, agent, category, n in session.execute(query):
        bucket = _reason(reason)
        weekly[bucket][week_of(date.fromisoformat(str(day_text)[:10]))] += n
        by_agent[bucket][agent] += n
        by_category[bucket][category] += n
        total += n
    first = week_of(filters.range.start)
    weeks = []
    while first <= filters.range.end:
        weeks.append(first)
        first += timedelta(days=7)
    buckets = sorted(weekly, key=lambda b: (-sum(weekly[b].values()), b))
    rows = []
    for bucket in buckets:
        series = [weekly[bucket].get(w, 0) for w in weeks]
        change = series[-1] - series[-2] if len(series) >= 2 else None
        rows.append({"bucket": bucket, "weeks": series, "total": sum(series), "change": change})
    return {
        "weeks": [w.isoformat() for w in weeks], "total": total, "buckets": rows,
        "agents": sorted({a for b in by_agent.values() for a in b}),
        "categories": sorted({c for b in by_category.values() for c in b}),
        "by_agent": {b: dict(v) for b, v in by_agent.items()},
        "by_category": {b: dict(v) for b, v in by_category.items()},
    }


FAILURE_COLUMNS = ("decided_at", "week", "item", "agent", "category", "reason", "reviewer", "note")


def failure_rows(*, session: Session, filters: FailureFilters, limit: int | None = None,
                 batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Each real reject with its note, newest first (all of them for an export, or the latest `limit`)."""
    query = (
        sa.select(Decision.decided_at, Item.public_id, Item.agent, Item.category, Decision.reason, User.name,
                  Decision.note)
        .select_from(Decision).join(Item, Item.id == Decision.item_id).join(User, User.id == Decision.reviewer_id)
        .where(*_real_rejects(filters))
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .execution_options(yield_per=batch)
    )
    if limit is not None:
        query = query.limit(limit)
    for decided_at, public_id, agent, category, reason, reviewer, note in session.execute(query):
        yield {"decided_at": decided_at.isoformat(), "week": week_of(decided_at.date()).isoformat(),
               "item": public_id, "agent": agent, "category": category, "reason": _reason(reason),
               "reviewer": reviewer, "note": note}
