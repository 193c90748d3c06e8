"""Queries behind the within-reviewer decay, drift, skip, difficulty and timing figures (issue 13).

Aggregation happens in SQL; the formulas they feed are pure functions in reviewq.domain.vigilance_*.
Voided planted items (an upheld dispute, VIGILANCE.md §7) and drills are left out everywhere (MEASURED).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.vigilance import MinuteCounts
from reviewq.domain.vigilance_ability import SkipCounts
from reviewq.models import (
    ActiveTimeSource,
    Decision,
    Injection,
    InjectionKind,
    InjectionOutcome,
    Item,
    ItemKind,
    ItemStatus,
    Skip,
    User,
)
from reviewq.models.rollups import DecisionRollup
from reviewq.sqlfuncs import count_where, floor_int, not_indexed
from reviewq.stats.canary_queries import CANARY_DECIDED, MEASURED, SCORED, _scope, missed_flag, sequences_by_reviewer
from reviewq.stats.filters import Filters

FALLBACK = (ActiveTimeSource.MISSING, ActiveTimeSource.IMPLAUSIBLE)
LENGTH_SAMPLE = 2000  # decided items whose payload lengths set the team's "long item" threshold


def _team(query, column, filters: Filters, reviewer_id: int | None):
    if reviewer_id is not None:
        query = query.where(column == reviewer_id)
    if filters.team:
        query = query.where(column.in_(sa.select(User.id).where(User.role == filters.team)))
    return query


def minute_slices_by_reviewer(
    *, session: Session, filters: Filters, reviewer_id: int | None = None
) -> dict[int, list[MinuteCounts]]:
    """Decided canaries per reviewer and whole minute into session: the strata of §4."""
    minute = floor_int(Injection.minutes_into_session).label("minute")
    query = _scope(
        sa.select(
            Injection.reviewer_id, minute, sa.func.avg(Injection.minutes_into_session), sa.func.count(),
            count_where(Injection.outcome == InjectionOutcome.CAUGHT),
        ).where(
            Injection.kind == InjectionKind.CANARY,
            Injection.outcome.in_(CANARY_DECIDED),
            Injection.minutes_into_session.is_not(None),
        ),
        filters, reviewer_id,
    ).group_by(Injection.reviewer_id, minute).order_by(Injection.reviewer_id, minute)
    out: dict[int, list[MinuteCounts]] = defaultdict(list)
    for rid, _m, avg, n, k in session.execute(query):
        out[rid].append(MinuteCounts(minutes=float(avg), n=int(n), caught=int(k)))
    return dict(out)


def canary_timing(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> tuple[int, int]:
    """(canaries on the curve, of which minutes rest on server time because the browser's figure
    was missing or implausible) (§4)."""
    # The decision's timing source is looked up per canary (a scalar subquery, which PostgreSQL
    # runs per row through the primary key): as a join, its planner hashed all 1M decisions
    # (190 ms) for 10k canaries. decision_id is a foreign key, so "not null" is "joins".
    source = sa.select(Decision.active_source).where(Decision.id == Injection.decision_id).scalar_subquery()
    query = _scope(
        sa.select(sa.func.count(), count_where(source.in_(FALLBACK))).select_from(Injection)
        .where(Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED),
               Injection.decision_id.is_not(None)),
        filters, reviewer_id,
    )
    n, fallback = session.execute(query).one()
    return int(n or 0), int(fallback or 0)


def decision_fallbacks(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> dict[int, int]:
    """Decisions per reviewer whose active time fell back to server time (from the rollups)."""
    r = DecisionRollup.__table__.c
    query = sa.select(r.reviewer_id, sa.func.sum(r.active_fallback)).where(r.day >= filters.start, r.day <= filters.end)
    if filters.category:
        query = query.where(r.category == filters.category)
    query = _team(query, r.reviewer_id, filters, reviewer_id).group_by(r.reviewer_id)
    return {rid: int(n or 0) for rid, n in session.execute(query)}


def drift_sequences(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> dict[int, list[bool]]:
    """Every decided canary up to the end of the range, in decision order, True for a miss.

    Unlike the range's figures, drift looks at the reviewer's whole history: the baseline is
    their own earlier level (§5).
    """
    query = sa.select(Injection.reviewer_id, missed_flag()).where(
        Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED),
        MEASURED, Injection.decided_at < filters.until,
    )
    if filters.category:
        query = query.join(Item, Item.id == Injection.item_id).where(Item.category == filters.category)
    query = _team(query, Injection.reviewer_id, filters, reviewer_id)
    query = query.order_by(Injection.reviewer_id, Injection.decided_at, Injection.id)
    return sequences_by_reviewer(session.execute(query))


def template_key_expr():
    """SQL for template_key() in reviewq.domain.disputes, with the bucket for older mutation rows."""
    return sa.func.coalesce(
        sa.literal("library:") + Injection.library_entry_id,
        sa.literal("mutator:") + sa.func.nullif(Injection.template, "replay"),
        sa.literal("mutation:") + sa.func.coalesce(Injection.bucket, "unknown"),
    )


def template_cells(
    *, session: Session, filters: Filters, reviewer_id: int | None = None
) -> dict[tuple[int, str], tuple[int, int]]:
    """(reviewer, template or mutator) -> (decided canaries, caught): the data of §7's models."""
    key = template_key_expr().label("template")
    query = _scope(
        sa.select(Injection.reviewer_id, key, sa.func.count(),
                  count_where(Injection.outcome == InjectionOutcome.CAUGHT))
        .where(Injection.kind == InjectionKind.CANARY, Injection.outcome.in_(CANARY_DECIDED)),
        filters, reviewer_id,
    ).group_by(Injection.reviewer_id, key)
    return {(rid, t): (int(n), int(k)) for rid, t, n, k in session.execute(query)}


def _skip_scope(query, filters: Filters, reviewer_id: int | None):
    query = query.where(Skip.skipped_at >= filters.since, Skip.skipped_at < filters.until)
    if filters.category:
        query = query.where(Item.category == filters.category)
    return _team(query, Skip.reviewer_id, filters, reviewer_id)


_PLANTED_FOR_SKIPPER = sa.and_(Injection.item_id == Skip.item_id, Injection.reviewer_id == Skip.reviewer_id)


def skip_counts(*, session: Session, filters: Filters, reviewer_id: int | None = None) -> dict[int, SkipCounts]:
    """Per reviewer: decisions and skips on real and planted items, and how their canaries ended (§7)."""
    out: dict[int, SkipCounts] = defaultdict(SkipCounts)
    # Skip events, split by whether the item was planted for the skipper.
    skips = _skip_scope(
        sa.select(Skip.reviewer_id, sa.func.count(), count_where(Injection.id.is_not(None)))
        .select_from(Skip).join(Item, Item.id == Skip.item_id).outerjoin(Injection, _PLANTED_FOR_SKIPPER),
        filters, reviewer_id,
    ).group_by(Skip.reviewer_id)
    for rid, n, planted in session.execute(skips):
        out[rid] = replace(out[rid], real_skips=int(n) - int(planted), planted_skips=int(planted))
    # Planted items decided, and canaries caught / missed (voided ones and drills included in the
    # decision count, which real decisions are told apart by, not in the catches).
    planted = _team(
        sa.select(
            Injection.reviewer_id, sa.func.count(),
            count_where(sa.and_(Injection.outcome == InjectionOutcome.CAUGHT, MEASURED)),
            count_where(sa.and_(Injection.outcome == InjectionOutcome.MISSED, MEASURED)),
        ).where(Injection.decided_at >= filters.since, Injection.decided_at < filters.until,
                Injection.outcome.in_(SCORED)),
        Injection.reviewer_id, filters, reviewer_id,
    )
    if filters.category:
        planted = planted.join(Item, Item.id == Injection.item_id).where(Item.category == filters.category)
    for rid, n, caught, missed in session.execute(planted.group_by(Injection.reviewer_id)):
        out[rid] = replace(out[rid], planted_decided=int(n), canaries_caught=int(caught), canaries_missed=int(missed))
    # Canaries that expired: after a skip by their reviewer, or never served to them.
    skipped = sa.select(Skip.id).where(_PLANTED_FOR_SKIPPER).exists()
    expired = _team(
        sa.select(Injection.reviewer_id, count_where(skipped), sa.func.count())
        .where(Injection.kind == InjectionKind.CANARY, Injection.outcome == InjectionOutcome.EXPIRED, MEASURED,
               Injection.scheduled_for >= filters.since, Injection.scheduled_for < filters.until),
        Injection.reviewer_id, filters, reviewer_id,
    )
    if filters.category:
        expired = expired.join(Item, Item.id == Injection.item_id).where(Item.category == filters.category)
    for rid, after_skip, n in session.execute(expired.group_by(Injection.reviewer_id)):
        out[rid] = replace(out[rid], canaries_skipped_expired=int(after_skip),
                           canaries_expired_unseen=int(n) - int(after_skip))
    # Real decisions: all decisions (rollups) less the planted ones.
    r = DecisionRollup.__table__.c
    totals = sa.select(r.reviewer_id, sa.func.sum(r.decisions)).where(r.day >= filters.start, r.day <= filters.end)
    if filters.category:
        totals = totals.where(r.category == filters.category)
    for rid, n in session.execute(_team(totals, r.reviewer_id, filters, reviewer_id).group_by(r.reviewer_id)):
        out[rid] = replace(out[rid], real_decided=max(0, int(n or 0) - out[rid].planted_decided))
    return dict(out)


def _length():
    return sa.func.length(sa.cast(Item.payload, sa.Text))


def long_item_threshold(*, session: Session, filters: Filters) -> int | None:
    """The 75th percentile of payload length over recent decided items: "long" starts there."""
    # Read backwards along (decided_at, id) until LENGTH_SAMPLE decided items are found; the status
    # index would read every decided item ever and sort them (1.3 s at 1M decisions on SQLite).
    rows = session.execute(
        sa.select(_length()).where(not_indexed(Item.status) == ItemStatus.DECIDED, Item.decided_at >= filters.since,
                                   Item.decided_at < filters.until)
        .order_by(Item.decided_at.desc()).limit(LENGTH_SAMPLE)
    ).scalars().all()
    lengths = sorted(int(x) for x in rows if x is not None)
    if len(lengths) < 20:
        return None
    return lengths[int(0.75 * (len(lengths) - 1))]


def skips_on_long_items(
    *, session: Session, filters: Filters, threshold: int, reviewer_id: int | None = None
) -> dict[int, tuple[int, int]]:
    """Per reviewer: (skips of items at least `threshold` long, all skips)."""
    query = _skip_scope(
        sa.select(Skip.reviewer_id, count_where(_length() >= threshold), sa.func.count())
        .select_from(Skip).join(Item, Item.id == Skip.item_id),
        filters, reviewer_id,
    ).group_by(Skip.reviewer_id)
    return {rid: (int(long_), int(n)) for rid, long_, n in session.execute(query)}


def skipped_canary_templates(
    *, session: Session, filters: Filters, reviewer_id: int | None = None
) -> dict[int, list[str]]:
    """Per reviewer: the template of each planted canary they skipped (for 'skips on hard items')."""
    key = template_key_expr()
    query = _skip_scope(
        sa.select(Skip.reviewer_id, key).select_from(Skip).join(Item, Item.id == Skip.item_id)
        .join(Injection, _PLANTED_FOR_SKIPPER).where(Injection.kind == InjectionKind.CANARY, MEASURED),
        filters, reviewer_id,
    )
    out: dict[int, list[str]] = defaultdict(list)
    for rid, t in session.execute(query):
        out[rid].append(t)
    return dict(out)


def expiry_by_kind(*, session: Session, filters: Filters) -> dict[str, tuple[int, int]]:
    """Planted canaries per item kind (output / approval) scheduled in the range: (expired, closed).

    Approvals carry a deadline, so their canaries can expire unseen more often than outputs'; a lead
    should see that, since an expired canary counts as not caught (§7)."""
    # Which canaries are on approvals: the approvals' ids are read once through the (status, kind)
    # index (every status listed), and the rest are outputs, the only other kind. As a join,
    # PostgreSQL's planner hashed all 1M items (200 ms) for 10k canaries; looking up each
    # canary's item (a scalar subquery) still cost 10k random reads.
    approvals = sa.select(Item.id).where(Item.status.in_(list(ItemStatus)), Item.kind == ItemKind.APPROVAL)
    kind = sa.case((Injection.item_id.in_(approvals), ItemKind.APPROVAL.value), else_=ItemKind.OUTPUT.value)
    canaries = _team(
        sa.select(kind.label("kind"), Injection.outcome)
        .where(Injection.kind == InjectionKind.CANARY, MEASURED,
               Injection.outcome.in_((*CANARY_DECIDED, InjectionOutcome.EXPIRED)),
               Injection.scheduled_for >= filters.since, Injection.scheduled_for < filters.until),
        Injection.reviewer_id, filters, None,
    )
    if filters.category:
        category = sa.select(Item.category).where(Item.id == Injection.item_id).scalar_subquery()
        canaries = canaries.where(category == filters.category)
    rows = canaries.subquery()
    query = sa.select(rows.c.kind, count_where(rows.c.outcome == InjectionOutcome.EXPIRED), sa.func.count()
                      ).group_by(rows.c.kind)
    return {getattr(kind, "value", kind): (int(expired), int(n)) for kind, expired, n in session.execute(query)}
