"""Per-reviewer time on task: from the decision rollups and the review_sessions table (§4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.models import ReviewSession, User
from reviewq.models.rollups import ACTIVE_COLUMNS, ACTIVE_EDGES_S, DecisionRollup
from reviewq.stats.filters import Filters
from reviewq.stats.histogram import quantile_from_histogram


@dataclass
class TimeOnTask:
    decisions: int = 0
    rejects: int = 0
    under_2s: int = 0
    active_ms_sum: int = 0
    histogram: tuple[int, ...] = (0,) * len(ACTIVE_COLUMNS)
    sessions: int = 0
    median_session_ms: float | None = None
    last_active: datetime | None = None

    @property
    def median_active_s(self) -> float | None:
        """Median active seconds per item, interpolated within its histogram bucket."""
        return quantile_from_histogram(self.histogram, ACTIVE_EDGES_S, 0.5)

    @property
    def under_2s_share(self) -> float | None:
        return self.under_2s / self.decisions if self.decisions else None


def _team_scope(query, column, filters: Filters, reviewer_id: int | None):
    if reviewer_id is not None:
        query = query.where(column == reviewer_id)
    if filters.team:
        query = query.where(column.in_(sa.select(User.id).where(User.role == filters.team)))
    return query


def time_on_task(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> dict[int, TimeOnTask]:
    """Rollup sums per reviewer, then sessions (count, median active length) and last activity."""
    r = DecisionRollup.__table__.c
    query = sa.select(
        r.reviewer_id,
        sa.func.sum(r.decisions),
        sa.func.sum(r.rejects),
        sa.func.sum(r.under_2s),
        sa.func.sum(r.active_ms_sum),
        *[sa.func.sum(r[name]) for name in ACTIVE_COLUMNS],
    ).where(r.day >= filters.start, r.day <= filters.end)
    if filters.category:
        query = query.where(r.category == filters.category)
    query = _team_scope(query, r.reviewer_id, filters, reviewer_id).group_by(r.reviewer_id)
    out: dict[int, TimeOnTask] = {}
    for rid, decisions, rejects, under, active, *hist in session.execute(query):
        out[rid] = TimeOnTask(
            decisions=int(decisions), rejects=int(rejects), under_2s=int(under),
            active_ms_sum=int(active), histogram=tuple(int(h) for h in hist),
        )
    for rid, n, median in _session_medians(session, filters, reviewer_id):
        out.setdefault(rid, TimeOnTask())
        out[rid].sessions = int(n)
        out[rid].median_session_ms = float(median)
    last = _team_scope(
        sa.select(ReviewSession.reviewer_id, sa.func.max(ReviewSession.last_activity_at)),
        ReviewSession.reviewer_id, filters, reviewer_id,
    ).group_by(ReviewSession.reviewer_id)
    for rid, at in session.execute(last):
        if rid in out:
            out[rid].last_active = at
    return out


def _session_medians(session: Session, filters: Filters, reviewer_id: int | None):
    """(reviewer, sessions, median active ms) for sessions started in the range.

    The median is taken in SQL with window functions: the middle one or two rows by
    active_ms within each reviewer, averaged.
    """
    s = ReviewSession.__table__.c
    ranked = _team_scope(
        sa.select(
            s.reviewer_id.label("rid"),
            s.active_ms.label("ms"),
            sa.func.row_number().over(partition_by=s.reviewer_id, order_by=(s.active_ms, s.id)).label("rn"),
            sa.func.count().over(partition_by=s.reviewer_id).label("cnt"),
        ).where(s.started_at >= filters.since, s.started_at < filters.until),
        s.reviewer_id, filters, reviewer_id,
    ).subquery()
    middle = sa.select(
        ranked.c.rid, sa.func.max(ranked.c.cnt), sa.func.avg(ranked.c.ms)
    ).where(
        ranked.c.rn.in_([(ranked.c.cnt + 1) // 2, (ranked.c.cnt + 2) // 2])  # integer division
    ).group_by(ranked.c.rid)
    return session.execute(middle).all()
