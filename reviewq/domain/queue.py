"""The claim-safe review queue: enqueue, claim with a lease, decide, release, sweep.

Claims are safe under concurrency on both backends: candidates are picked with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, and every state change is a conditional UPDATE that
only one transaction can win (SQLite serialises writers with BEGIN IMMEDIATE on top of that).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.approval_settlement import refuse_late_verdict
from reviewq.domain.effects import DecisionEffects, after_decision
from reviewq.domain.errors import InvalidTransition, LeaseLost, NotFound, ValidationFailed
from reviewq.domain.reviewer import ReviewerRef, approvals_given, latest_session
from reviewq.domain.time_on_task import SessionSoFar, measure_item, place_in_session
from reviewq.models import (
    Decision,
    DecisionCreate,
    Item,
    ItemCreate,
    ItemKind,
    ItemStatus,
    Outcome,
    ReviewSession,
    Verdict,
    can_transition,
    new_public_id,
)
from reviewq.models.common import UTCDateTime


@dataclass(frozen=True)
class Enqueued:
    item: Item
    created: bool  # False: an item with the same dedupe key already existed


def enqueue(*, session: Session, data: ItemCreate, now: datetime) -> Enqueued:
    """Add an item, or return the existing one with the same dedupe key."""
    if data.dedupe_key is not None:
        existing = find_by_dedupe_key(session=session, dedupe_key=data.dedupe_key)
        if existing is not None:
            return Enqueued(existing, created=False)
    item = Item(
        **data.model_dump(),
        public_id=new_public_id("itm"),
        status=ItemStatus.QUEUED,
        created_at=now,
        updated_at=now,
    )
    if data.dedupe_key is None:
        session.add(item)
        session.flush()
        return Enqueued(item, created=True)
    # A concurrent submission of the same key may win the insert; then return its item.
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        existing = find_by_dedupe_key(session=session, dedupe_key=data.dedupe_key)
        if existing is None:
            raise
        return Enqueued(existing, created=False)
    return Enqueued(item, created=True)


def find_by_dedupe_key(*, session: Session, dedupe_key: str) -> Item | None:
    return session.exec(select(Item).where(Item.dedupe_key == dedupe_key)).first()


# Hot-path statements are built once; per-call construction dominated the cost of a decision.
_ITEM_BY_PUBLIC_ID = select(Item).where(Item.public_id == sa.bindparam("public_id"))


def get_item(*, session: Session, public_id: str) -> Item:
    item = session.scalars(_ITEM_BY_PUBLIC_ID, {"public_id": public_id}).first()
    if item is None:
        raise NotFound(f"no item {public_id!r}", field="id")
    return item


def _not_decided_by():
    """Under the two-person rule a reviewer may not approve the same item twice."""
    already = (
        select(Decision.id)
        .where(Decision.item_id == Item.id, Decision.reviewer_id == sa.bindparam("reviewer_id"))
        .exists()
    )
    return sa.or_(Item.required_approvals <= 1, ~already)


def _candidate_queries():
    """The three claim tiers, in order: approvals by deadline, my due assignments, oldest outputs."""
    now = sa.bindparam("now", type_=UTCDateTime())
    reviewer_id = sa.bindparam("reviewer_id")
    due = sa.or_(Item.not_before.is_(None), Item.not_before <= now)
    mine_or_anyone = sa.or_(Item.assigned_to.is_(None), Item.assigned_to == reviewer_id)
    queued = Item.status == ItemStatus.QUEUED
    approvals = (
        select(Item.id)
        .where(
            queued,
            Item.kind == ItemKind.APPROVAL,
            due,
            mine_or_anyone,
            sa.or_(Item.deadline.is_(None), Item.deadline > now),
            _not_decided_by(),
        )
        .order_by(Item.deadline, Item.created_at, Item.id)
    )
    assigned = (
        select(Item.id)
        .where(queued, Item.kind == ItemKind.OUTPUT, Item.assigned_to == reviewer_id, due)
        .order_by(Item.not_before.asc().nulls_first(), Item.created_at, Item.id)
    )
    oldest = (
        select(Item.id)
        .where(queued, Item.kind == ItemKind.OUTPUT, Item.assigned_to.is_(None), due)
        .order_by(Item.created_at, Item.id)
    )
    return approvals, assigned, oldest


# UPDATE … RETURNING Item: the returned row refreshes an Item already in the session. Set on the
# prebuilt statement, not per call: per-call options made SQLAlchemy recompute its cache key.
_RETURNS_ITEMS = {"synchronize_session": False, "populate_existing": True}


@functools.cache
def _claim_statement(postgres: bool, assigned_first: bool):
    """A claim in one statement: `UPDATE … WHERE id = COALESCE(tier 1, tier 2, tier 3) RETURNING`.

    Each tier is a scalar subquery for its first candidate. Both databases evaluate COALESCE's
    arguments lazily, so a later tier runs only when the earlier ones are empty. On PostgreSQL a
    tier locks its candidate with SKIP LOCKED, so a concurrent claimer skips it instead of racing
    for it; on SQLite writers are serialised, so the pick cannot go stale.
    """
    approvals, assigned, oldest = _candidate_queries()
    tiers = (approvals, assigned, oldest) if assigned_first else (approvals, oldest, assigned)
    firsts = []
    for query in tiers:
        query = query.limit(1)
        if postgres:
            query = query.with_for_update(skip_locked=True, of=Item)
        # Keep FROM items inside the subquery instead of correlating it to the UPDATE's table.
        firsts.append(query.correlate(None).scalar_subquery())
    return (
        sa.update(Item)
        .where(Item.id == sa.func.coalesce(*firsts), Item.status == ItemStatus.QUEUED)
        .values(
            status=ItemStatus.LEASED,
            lease_holder=sa.bindparam("reviewer_id"),
            leased_at=sa.bindparam("now", type_=UTCDateTime()),
            lease_expires_at=sa.bindparam("until", type_=UTCDateTime()),
            updated_at=sa.bindparam("now", type_=UTCDateTime()),
        )
        .returning(Item)
        .execution_options(**_RETURNS_ITEMS)
    )


# With an rng, a due item assigned to this reviewer is offered on about this share of claims (and
# whenever nothing else is waiting), so planted items are interleaved with real work instead of
# opening every sitting: items that fell due while the reviewer was away would otherwise all come
# first, which is both a tell and a bias towards minute 0 of the decay curve (VIGILANCE.md §4).
ASSIGNED_INTERLEAVE = 0.15


def claim_next(
    *, session: Session, reviewer_id: int, now: datetime, lease_seconds: int, rng: random.Random | None = None
) -> Item | None:
    """Lease the next item for this reviewer, or None when nothing is due for them.

    Order: approvals by deadline, then due items assigned to this reviewer, then the oldest
    outputs. Given an `rng`, assigned items are interleaved with the oldest outputs instead.
    """
    assigned_first = rng is None or rng.random() < ASSIGNED_INTERLEAVE
    take = _claim_statement(_is_postgres(session), assigned_first)
    params = {"reviewer_id": reviewer_id, "now": now, "until": now + timedelta(seconds=lease_seconds)}
    return session.scalars(take, params).first()


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


_FIRST_HELD = (
    select(Item.id)
    .where(Item.status == ItemStatus.LEASED, Item.lease_holder == sa.bindparam("reviewer_id"),
           Item.lease_expires_at > sa.bindparam("now", type_=UTCDateTime()))
    .order_by(Item.leased_at, Item.id)
    .limit(1)
    .correlate(None)
    .scalar_subquery()
)
_RESUME_HELD = (
    sa.update(Item)
    .where(Item.id == _FIRST_HELD)
    .values(lease_expires_at=sa.bindparam("until", type_=UTCDateTime()),
            updated_at=sa.bindparam("now", type_=UTCDateTime()))
    .returning(Item)
    .execution_options(**_RETURNS_ITEMS)
)


def resume_held(*, session: Session, reviewer_id: int, now: datetime, lease_seconds: int) -> Item | None:
    """The item this reviewer still holds a live lease on, with the lease renewed (a page reload)."""
    params = {"reviewer_id": reviewer_id, "now": now, "until": now + timedelta(seconds=lease_seconds)}
    return session.scalars(_RESUME_HELD, params).first()


_HELD_BY = sa.and_(
    Item.public_id == sa.bindparam("held_public_id"),
    Item.status == ItemStatus.LEASED,
    Item.lease_holder == sa.bindparam("reviewer_id"),
)
_RENEW = (
    sa.update(Item)
    .where(_HELD_BY)
    .values(lease_expires_at=sa.bindparam("until", type_=UTCDateTime()),
            updated_at=sa.bindparam("now", type_=UTCDateTime()))
    .execution_options(synchronize_session=False)
)


def renew_lease(
    *, session: Session, public_id: str, reviewer_id: int, now: datetime, lease_seconds: int
) -> datetime:
    """Heartbeat: extend the lease this reviewer holds. Raises LeaseLost if they no longer do."""
    until = now + timedelta(seconds=lease_seconds)
    changed = session.execute(
        _RENEW, {"held_public_id": public_id, "reviewer_id": reviewer_id, "until": until, "now": now}
    ).rowcount
    if changed != 1:
        raise LeaseLost("this item is no longer yours; take the next one", field="id")
    return until


def release(*, session: Session, public_id: str, reviewer_id: int, now: datetime) -> bool:
    """Give a leased item back to the queue (skip, logout). False if it was not held."""
    changed = session.execute(
        sa.update(Item)
        .where(
            Item.public_id == public_id,
            Item.status == ItemStatus.LEASED,
            Item.lease_holder == reviewer_id,
        )
        .values(**_unleased(now))
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def release_all(*, session: Session, reviewer_id: int, now: datetime) -> int:
    """Give back every item this reviewer holds (logout)."""
    return session.execute(
        sa.update(Item)
        .where(Item.status == ItemStatus.LEASED, Item.lease_holder == reviewer_id)
        .values(**_unleased(now))
        .execution_options(synchronize_session=False)
    ).rowcount


def sweep_expired_leases(*, session: Session, now: datetime) -> int:
    """Return items whose lease ran out to the queue. Decided items are never touched."""
    return session.execute(
        sa.update(Item)
        .where(Item.status == ItemStatus.LEASED, Item.lease_expires_at < now)
        .values(**_unleased(now))
        .execution_options(synchronize_session=False)
    ).rowcount


def _unleased(now: datetime) -> dict:
    return {
        "status": ItemStatus.QUEUED,
        "lease_holder": None,
        "leased_at": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


@dataclass(frozen=True)
class DecideResult:
    item: Item
    decision: Decision
    settled: bool  # the item reached its outcome (False: first of two approvals)
    effects: DecisionEffects
    review_session: ReviewSession  # the reviewer's session, this decision included


# The decided item leaves the reviewer's hands only if they still hold it; built once, because
# a decision is the hot path (`reviewq bench`) and building the statement cost more than running it.
_ITEMS = Item.__table__
_STILL_HELD = sa.and_(
    _ITEMS.c.id == sa.bindparam("item_id"),
    _ITEMS.c.status == ItemStatus.LEASED,
    _ITEMS.c.lease_holder == sa.bindparam("reviewer_id"),
)
_SETTLE = sa.update(_ITEMS).where(_STILL_HELD).values(
    status=ItemStatus.DECIDED,
    outcome=sa.bindparam("new_outcome", type_=_ITEMS.c.outcome.type),
    decided_at=sa.bindparam("now", type_=UTCDateTime()),
    lease_holder=None,
    lease_expires_at=None,
    updated_at=sa.bindparam("now", type_=UTCDateTime()),
)
_REQUEUE = sa.update(_ITEMS).where(_STILL_HELD).values(
    status=ItemStatus.QUEUED,
    lease_holder=None,
    leased_at=None,
    lease_expires_at=None,
    updated_at=sa.bindparam("now", type_=UTCDateTime()),
)


def _settle_held_statement(verdict: Verdict):
    """Settle the item if this reviewer holds it and their verdict is final, returning the item."""
    outcome_type = _ITEMS.c.outcome.type
    if verdict == Verdict.APPROVE:
        outcome = sa.literal(Outcome.APPROVE, type_=outcome_type)
        final = Item.required_approvals <= 1
    else:
        outcome = sa.case(
            (Item.kind == ItemKind.APPROVAL, sa.literal(Outcome.DENY, type_=outcome_type)),
            else_=sa.literal(Outcome.REJECT, type_=outcome_type),
        )
        final = sa.true()
    in_time = sa.or_(Item.deadline.is_(None), Item.deadline > sa.bindparam("now", type_=UTCDateTime()))
    return (
        sa.update(Item)
        .where(_HELD_BY, final, in_time)
        .values(status=ItemStatus.DECIDED, outcome=outcome,
                decided_at=sa.bindparam("now", type_=UTCDateTime()), lease_holder=None, lease_expires_at=None,
                updated_at=sa.bindparam("now", type_=UTCDateTime()))
        .returning(Item)
        .execution_options(**_RETURNS_ITEMS)
    )


_SETTLE_HELD = {verdict: _settle_held_statement(verdict) for verdict in Verdict}


def decide(
    *,
    session: Session,
    public_id: str,
    reviewer: ReviewerRef,
    data: DecisionCreate,
    now: datetime,
    settings: Settings,
) -> DecideResult:
    """Record a reviewer's verdict on the item they hold, and settle the item if it is final."""
    if data.verdict == Verdict.REJECT and data.reason is None:
        raise ValidationFailed("a reject needs a reason bucket", field="reason")
    # The common case settles in one statement; the rest (errors, the first of two approvals) below.
    item = session.scalars(
        _SETTLE_HELD[data.verdict], {"held_public_id": public_id, "reviewer_id": reviewer.id, "now": now},
    ).first()
    if item is not None:
        settled, shown_at = True, item.leased_at or now
    else:
        item, settled, shown_at = _settle_or_requeue(
            session=session, public_id=public_id, reviewer=reviewer, verdict=data.verdict, now=now,
            settings=settings,
        )

    decision, review_session = _record_decision(
        session=session, item=item, reviewer=reviewer, data=data,
        shown_at=shown_at, now=now, settings=settings,
    )
    effects = after_decision(
        session=session, item=item, decision=decision, reviewer=reviewer,
        settled=settled, now=now, settings=settings,
    )
    return DecideResult(item=item, decision=decision, settled=settled, effects=effects,
                        review_session=review_session)


def _settle_or_requeue(
    *, session: Session, public_id: str, reviewer: ReviewerRef, verdict: Verdict, now: datetime, settings: Settings
) -> tuple[Item, bool, datetime]:
    """Why the one-statement settle did not apply, or the two-person rule's first approval."""
    item = get_item(session=session, public_id=public_id)
    if item.status != ItemStatus.LEASED or item.lease_holder != reviewer.id:
        if not can_transition(item.status, ItemStatus.DECIDED):
            raise InvalidTransition(f"item is already {item.status.value}", field="id")
        raise LeaseLost("this item is no longer yours; take the next one", field="id")
    if item.deadline is not None and item.deadline <= now:
        refuse_late_verdict(session=session, item=item, reviewer_id=reviewer.id, verdict=Verdict(verdict).value,
                            now=now, settings=settings)
    approvals_so_far = 0
    if item.required_approvals > 1:
        approvals_so_far = approvals_given(session=session, item_id=item.id)
    settled = verdict == Verdict.REJECT or approvals_so_far + 1 >= item.required_approvals
    shown_at = item.leased_at or now
    values = _settled(item, verdict, now) if settled else _unleased(now)
    params = {"item_id": item.id, "reviewer_id": reviewer.id, "now": now}
    if settled:
        params["new_outcome"] = values["outcome"]
    if session.execute(_SETTLE if settled else _REQUEUE, params).rowcount != 1:
        raise LeaseLost("this item was decided or taken by someone else", field="id")
    _set_loaded(item, **values)
    return item, settled, shown_at


def _settled(item: Item, verdict: Verdict, now: datetime) -> dict:
    if verdict == Verdict.APPROVE:
        outcome = Outcome.APPROVE
    else:
        outcome = Outcome.DENY if item.kind == ItemKind.APPROVAL else Outcome.REJECT
    return {
        "status": ItemStatus.DECIDED,
        "outcome": outcome,
        "decided_at": now,
        "lease_holder": None,
        "lease_expires_at": None,
        "updated_at": now,
    }


_DECISIONS = Decision.__table__
_INSERT_DECISION = sa.insert(_DECISIONS).returning(_DECISIONS.c.id)
_SESSIONS = ReviewSession.__table__
_ADD_TO_SESSION = (
    sa.update(_SESSIONS)
    .where(_SESSIONS.c.id == sa.bindparam("session_id"))
    .values(active_ms=_SESSIONS.c.active_ms + sa.bindparam("add_ms"), decisions=_SESSIONS.c.decisions + 1,
            last_activity_at=sa.bindparam("now", type_=UTCDateTime()))
)


def _set_loaded(obj, **values) -> None:
    """Record values the database already holds on an ORM object, without marking it changed."""
    for key, value in values.items():
        set_committed_value(obj, key, value)


def _record_decision(
    *,
    session: Session,
    item: Item,
    reviewer: ReviewerRef,
    data: DecisionCreate,
    shown_at: datetime,
    now: datetime,
    settings: Settings,
) -> tuple[Decision, ReviewSession]:
    timing = measure_item(
        shown_at=shown_at,
        decided_at=now,
        client_active_ms=data.active_ms,
        idle_seconds=settings.vigilance.idle_seconds,
    )
    latest = latest_session(session=session, reviewer_id=reviewer.id)
    previous = (
        SessionSoFar(latest.started_at, latest.last_activity_at, latest.active_ms)
        if latest is not None
        else None
    )
    placement = place_in_session(
        previous=previous,
        shown_at=shown_at,
        decided_at=now,
        active_ms=timing.active_ms,
        gap_minutes=settings.vigilance.session_gap_minutes,
    )
    if placement.continues:
        review_session = latest
        session.execute(_ADD_TO_SESSION, {"session_id": latest.id, "add_ms": timing.active_ms, "now": now})
        _set_loaded(review_session, active_ms=latest.active_ms + timing.active_ms,
                    decisions=latest.decisions + 1, last_activity_at=now)
    else:
        review_session = ReviewSession(
            reviewer_id=reviewer.id,
            started_at=placement.activity_start,
            last_activity_at=now,
            active_ms=timing.active_ms,
            decisions=1,
        )
        session.add(review_session)
        session.flush()  # the decision below needs the new session's id
    decision = Decision(
        item_id=item.id,
        reviewer_id=reviewer.id,
        verdict=data.verdict,
        reason=data.reason,
        note=data.note,
        shown_at=shown_at,
        decided_at=now,
        active_ms=timing.active_ms,
        server_ms=timing.server_ms,
        review_session_id=review_session.id,
        minutes_into_session=placement.minutes_into_session,
        active_source=timing.source,
    )
    # A prebuilt INSERT instead of a flush, then the object joins the session as already stored.
    values = {column.key: getattr(decision, column.key) for column in _DECISIONS.columns if column.key != "id"}
    decision.id = session.execute(_INSERT_DECISION, values).scalar_one()
    make_transient_to_detached(decision)
    session.add(decision)
    return decision, review_session


def set_status(*, session: Session, item: Item, status: ItemStatus, now: datetime) -> None:
    """Move an item along the transition table, refusing any move it does not list."""
    if not can_transition(item.status, status):
        raise InvalidTransition(
            f"an item cannot go from {ItemStatus(item.status).value} to {status.value}",
            field="status",
        )
    item.status = status
    item.updated_at = now
    if status != ItemStatus.LEASED:
        item.lease_holder = None
        item.lease_expires_at = None
    session.add(item)


def queue_depth(*, session: Session) -> dict[str, int]:
    rows = session.exec(
        select(Item.kind, sa.func.count(Item.id))
        .where(Item.status.in_([ItemStatus.QUEUED, ItemStatus.LEASED]))
        .group_by(Item.kind)
    ).all()
    return {ItemKind(kind).value: count for kind, count in rows}
