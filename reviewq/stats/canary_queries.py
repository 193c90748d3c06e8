"""Canary and control figures, aggregated in SQL from the injections table.

Scoring copies each decision's time, minutes into session and active time onto its
injection row, so none of these queries touches the decisions table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.vigilance import MinuteCounts
from reviewq.models import Injection, InjectionKind, InjectionOutcome, Item, User
from reviewq.sqlfuncs import count_where, floor_int
from reviewq.stats.filters import Filters

SCORED = (
    InjectionOutcome.CAUGHT,
    InjectionOutcome.MISSED,
    InjectionOutcome.FALSE_ALARM,
    InjectionOutcome.CORRECT,
)
CANARY_DECIDED = (InjectionOutcome.CAUGHT, InjectionOutcome.MISSED)
# What a figure may count: not voided by an upheld dispute (VIGILANCE.md §7), and not a drill
# (an onboarding or lead's drill is announced training, each item revealed at once: not a measure).
MEASURED = sa.and_(Injection.voided_at.is_(None), Injection.drill.is_(False))


def _scope(query, filters: Filters, reviewer_id: int | None = None):
    """Decided in the date range, by the team, on the category (joins items only when asked).

    Items voided by an upheld dispute, and drills, count nowhere (MEASURED)."""
    query = query.where(Injection.decided_at >= filters.since, Injection.decided_at < filters.until, MEASURED)
    if reviewer_id is not None:
        query = query.where(Injection.reviewer_id == reviewer_id)
    if filters.team:
        query = query.where(
            Injection.reviewer_id.in_(sa.select(User.id).where(User.role == filters.team))
        )
    if filters.category:
        query = query.join(Item, Item.id == Injection.item_id).where(Item.category == filters.category)
    return query


@dataclass
class ReviewerCounts:
    canaries: int = 0
    caught: int = 0
    diagnosed: int = 0
    controls: int = 0
    false_alarms: int = 0


def counts_by_reviewer(*, session: Session, filters: Filters) -> dict[int, ReviewerCounts]:
    """Hits, misses, false alarms and correct approvals per reviewer (VIGILANCE.md §2 cells)."""
    query = _scope(
        sa.select(
            Injection.reviewer_id,
            Injection.outcome,
            sa.func.count(),
            count_where(Injection.diagnosed.is_(True)),
        ).where(Injection.outcome.in_(SCORED)),
        filters,
    ).group_by(Injection.reviewer_id, Injection.outcome)
    out: dict[int, ReviewerCounts] = defaultdict(ReviewerCounts)
    for reviewer_id, outcome, n, diagnosed in session.execute(query):
        row = out[reviewer_id]
        outcome = InjectionOutcome(outcome)
        if outcome in CANARY_DECIDED:
            row.canaries += n
            if outcome == InjectionOutcome.CAUGHT:
                row.caught += n
                row.diagnosed += int(diagnosed)
        else:
            row.controls += n
            if outcome == InjectionOutcome.FALSE_ALARM:
                row.false_alarms += n
    return dict(out)


def minute_slices(
    *, session: Session, filters: Filters, reviewer_id: int | None = None
) -> list[MinuteCounts]:
    """Decided canaries per whole minute into session, with the slice's mean minute (§4)."""
    minute = floor_int(Injection.minutes_into_session).label("minute")
    query = _scope(
        sa.select(
            minute,
            sa.func.avg(Injection.minutes_into_session),
            sa.func.count(),
            count_where(Injection.outcome == InjectionOutcome.CAUGHT),
        ).where(
            Injection.kind == InjectionKind.CANARY,
            Injection.outcome.in_(CANARY_DECIDED),
            Injection.minutes_into_session.is_not(None),
        ),
        filters,
        reviewer_id,
    ).group_by(minute).order_by(minute)
    return [
        MinuteCounts(minutes=float(avg), n=int(n), caught=int(k))
        for _m, avg, n, k in session.execute(query)
    ]


@dataclass
class WeeklyCounts:
    weeks: list[datetime] = field(default_factory=list)
    # (reviewer_id, week) -> (n, caught)
    cells: dict[tuple[int, datetime], tuple[int, int]] = field(default_factory=dict)


def weekly_counts(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> WeeklyCounts:
    """Decided canaries per reviewer per injection week (the week they were planted)."""
    query = _scope(
        sa.select(
            Injection.reviewer_id,
            Injection.week_start,
            sa.func.count(),
            count_where(Injection.outcome == InjectionOutcome.CAUGHT),
        ).where(Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED)),
        filters,
        reviewer_id,
    ).group_by(Injection.reviewer_id, Injection.week_start)
    out = WeeklyCounts()
    weeks = set()
    for rid, week, n, k in session.execute(query):
        out.cells[(rid, week)] = (int(n), int(k))
        weeks.add(week)
    out.weeks = sorted(weeks)
    return out


def bucket_counts(
    *, session: Session, filters: Filters, reviewer_id: int | None = None
) -> list[tuple[str, int, int, int]]:
    """(bucket, canaries, caught, diagnosed) per planted failure bucket."""
    query = _scope(
        sa.select(
            Injection.bucket,
            sa.func.count(),
            count_where(Injection.outcome == InjectionOutcome.CAUGHT),
            count_where(Injection.diagnosed.is_(True)),
        ).where(Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED)),
        filters,
        reviewer_id,
    ).group_by(Injection.bucket).order_by(Injection.bucket)
    return [(b or "unknown", int(n), int(k), int(d)) for b, n, k, d in session.execute(query)]


def miss_sequences(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> dict[int, list[bool]]:
    """Each reviewer's decided canaries in decision order, True for a miss (the CUSUM input, §5).

    The CUSUM recursion max(0, S + W) has no SQL form; only two small columns of the
    (few) canary rows are read, in index order.
    """
    query = _scope(
        sa.select(Injection.reviewer_id, missed_flag()).where(
            Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED)
        ),
        filters,
        reviewer_id,
    ).order_by(Injection.reviewer_id, Injection.decided_at, Injection.id)
    return sequences_by_reviewer(session.execute(query))


def missed_flag() -> sa.ColumnElement:
    """1 for a missed canary, else 0: compared in SQL, so no Enum is built per row (10k at 1M)."""
    return sa.case((Injection.outcome == InjectionOutcome.MISSED, 1), else_=0)


def sequences_by_reviewer(rows) -> dict[int, list[bool]]:
    """(reviewer_id, missed_flag) rows in order -> each reviewer's list of misses."""
    out: dict[int, list[bool]] = defaultdict(list)
    for rid, missed in rows:
        out[rid].append(missed == 1)
    return dict(out)


def missed_canaries(*, session: Session, filters: Filters, reviewer_id: int, limit: int = 200) -> list[dict]:
    """One reviewer's missed canaries with what was wrong, newest first."""
    query = _scope(
        sa.select(
            Item.public_id,
            Item.category,
            Injection.bucket,
            Injection.explanation,
            Injection.decided_at,
            Injection.minutes_into_session,
        )
        .select_from(Injection)
        .join(Item, Item.id == Injection.item_id)
        .where(Injection.kind == InjectionKind.CANARY, Injection.outcome == InjectionOutcome.MISSED),
        Filters(filters.start, filters.end, filters.team, None),
        reviewer_id,
    )
    if filters.category:
        query = query.where(Item.category == filters.category)
    query = query.order_by(Injection.decided_at.desc()).limit(limit)
    return [
        {
            "item": pid,
            "category": cat,
            "bucket": bucket,
            "explanation": expl,
            "decided_at": decided_at,
            "minutes_into_session": mis,
        }
        for pid, cat, bucket, expl, decided_at, mis in session.execute(query)
    ]


def pending_this_week(*, session: Session, week_start: datetime) -> dict[str, int]:
    """Planted items of the current injection week not yet decided, by kind."""
    rows = session.execute(
        sa.select(Injection.kind, sa.func.count())
        .where(Injection.week_start >= week_start, Injection.outcome == InjectionOutcome.PENDING)
        .group_by(Injection.kind)
    )
    out = {k.value: 0 for k in InjectionKind}
    for kind, n in rows:
        out[InjectionKind(kind).value] = int(n)
    return out
