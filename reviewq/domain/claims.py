"""Picking the next item and holding it: claim with a lease, resume, renew, release, sweep.

Claims are safe under concurrency on both backends: candidates are picked with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, and every state change is a conditional UPDATE that
only one transaction can win (SQLite serialises writers with BEGIN IMMEDIATE on top of that).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.errors import LeaseLost
from reviewq.domain.items import loading_items
from reviewq.domain.transitions import entering, guard, per_table
from reviewq.lean_sql import Prebuilt, loaded
from reviewq.models import Decision, Item, ItemKind, ItemStatus
from reviewq.models.common import UTCDateTime

_NOW = sa.bindparam("now", type_=UTCDateTime())
_UNTIL = sa.bindparam("until", type_=UTCDateTime())


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
    queued = guard(ItemStatus.LEASED, ItemStatus.QUEUED)  # claimable: queued, if the table lets it be leased
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
    # Outputs can need two approvals too (the item's required_approvals): the same rule applies.
    assigned = (
        select(Item.id)
        .where(queued, Item.kind == ItemKind.OUTPUT, Item.assigned_to == reviewer_id, due, _not_decided_by())
        .order_by(Item.not_before.asc().nulls_first(), Item.created_at, Item.id)
    )
    oldest = (
        select(Item.id)
        .where(queued, Item.kind == ItemKind.OUTPUT, Item.assigned_to.is_(None), due, _not_decided_by())
        .order_by(Item.created_at, Item.id)
    )
    return approvals, assigned, oldest


@per_table
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
    claim = (
        sa.update(Item)
        .where(Item.id == sa.func.coalesce(*firsts), guard(ItemStatus.LEASED, ItemStatus.QUEUED))
        .values(
            **entering(ItemStatus.LEASED, _NOW),
            lease_holder=sa.bindparam("reviewer_id"),
            leased_at=_NOW,
            lease_expires_at=_UNTIL,
        )
    )
    return loading_items(claim), Prebuilt(claim.returning(*Item.__table__.columns))


# With an rng, a due item assigned to this reviewer is offered on about this share of claims (and
# whenever nothing else is waiting), so planted items are interleaved with real work instead of
# opening every sitting: items that fell due while the reviewer was away would otherwise all come
# first, which is both a tell and a bias towards minute 0 of the decay curve (VIGILANCE.md §4).
ASSIGNED_INTERLEAVE = 0.15


def claim_next(
    *, session: Session, reviewer_id: int, now: datetime, lease_seconds: int, rng: random.Random | None = None,
    snapshot: bool = False,
) -> Item | None:
    """Lease the next item for this reviewer, or None when nothing is due for them.

    Order: approvals by deadline, then due items assigned to this reviewer, then the oldest
    outputs. Given an `rng`, assigned items are interleaved with the oldest outputs instead.

    `snapshot`: the item read off the bare cursor (lean_sql.py): a detached snapshot unless the
    session holds it already; the queue's claims, which only show it or give it back.
    """
    assigned_first = rng is None or rng.random() < ASSIGNED_INTERLEAVE
    loading, lean = _claim_statement(_is_postgres(session), assigned_first)
    params = {"reviewer_id": reviewer_id, "now": now, "until": now + timedelta(seconds=lease_seconds)}
    if snapshot:
        row = lean.run(session, params).first()
        return None if row is None else loaded(session, Item, row, refresh=True)  # as populate_existing
    return session.scalars(loading, params).first()


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# A renewal keeps the item leased: the table's LEASED -> LEASED (renewed, or taken over).
_RENEWED = {"lease_expires_at": _UNTIL, "updated_at": _NOW}


def _first_held(*what):
    """`what` for the item this reviewer took first among those they hold on a live lease."""
    return (
        select(*what)
        .where(guard(ItemStatus.LEASED, ItemStatus.LEASED), Item.lease_holder == sa.bindparam("reviewer_id"),
               Item.lease_expires_at > _NOW)
        .order_by(Item.leased_at, Item.id)
        .limit(1)
    )


@per_table
def _resume_held():
    first_held = _first_held(Item.id).correlate(None).scalar_subquery()
    return loading_items(
        sa.update(Item)
        .where(Item.id == first_held)
        .values(**_RENEWED)
    )


def resume_held(*, session: Session, reviewer_id: int, now: datetime, lease_seconds: int) -> Item | None:
    """The item this reviewer still holds a live lease on, with the lease renewed (a page reload)."""
    params = {"reviewer_id": reviewer_id, "now": now, "until": now + timedelta(seconds=lease_seconds)}
    return session.scalars(_resume_held(), params).first()


@per_table
def _peek_held():
    # Every next reads this: columns off the bare cursor, made a snapshot Item (lean_sql.py).
    return Prebuilt(_first_held(*Item.__table__.columns))


def held_fresh(*, session: Session, reviewer_id: int, now: datetime, lease_seconds: int) -> Item | None:
    """The item resume_held would return, read without writing, if its lease needs no renewal yet:
    at least half of it is left, more than the page's heartbeat interval (a third), so the page
    keeps it. None otherwise (nothing held, or a lease to renew through resume_held).

    Read off the bare cursor: a detached snapshot unless the session holds the item already."""
    row = _peek_held().run(session, {"reviewer_id": reviewer_id, "now": now}).first()
    if row is None or row.lease_expires_at - now < timedelta(seconds=lease_seconds / 2):
        return None
    return loaded(session, Item, row)


def held_by(target: ItemStatus):
    """The item `held_public_id` is leased to `reviewer_id`, and the table lets it move to `target`."""
    return sa.and_(
        Item.public_id == sa.bindparam("held_public_id"),
        guard(target, ItemStatus.LEASED),
        Item.lease_holder == sa.bindparam("reviewer_id"),
    )


@per_table
def _renew():
    return (
        sa.update(Item)
        .where(held_by(ItemStatus.LEASED))
        .values(**_RENEWED)
        .execution_options(synchronize_session=False)
    )


def renew_lease(
    *, session: Session, public_id: str, reviewer_id: int, now: datetime, lease_seconds: int
) -> datetime:
    """Heartbeat: extend the lease this reviewer holds. Raises LeaseLost if they no longer do."""
    until = now + timedelta(seconds=lease_seconds)
    changed = session.execute(
        _renew(), {"held_public_id": public_id, "reviewer_id": reviewer_id, "until": until, "now": now}
    ).rowcount
    if changed != 1:
        raise LeaseLost("this item is no longer yours; take the next one", field="id")
    return until


def _giving_back(*where, now) -> sa.Update:
    """Leased items matching `where` back to the queue (`now`: a value or a bind parameter)."""
    return (
        sa.update(Item)
        .where(guard(ItemStatus.QUEUED, ItemStatus.LEASED), *where)
        .values(**entering(ItemStatus.QUEUED, now))
    )


def _give_back(session: Session, *where, now: datetime) -> int:
    """Return leased items matching `where` to the queue."""
    return session.execute(_giving_back(*where, now=now).execution_options(synchronize_session=False)).rowcount


@per_table
def _release(checks_lease: bool) -> Prebuilt:
    # Every planted claim gives the real item back: built once, run on the bare cursor.
    where = [Item.public_id == sa.bindparam("held_public_id"), Item.lease_holder == sa.bindparam("reviewer_id")]
    if checks_lease:
        where.append(Item.lease_expires_at == sa.bindparam("claimed_until", type_=UTCDateTime()))
    return Prebuilt(_giving_back(*where, now=_NOW))


def release(*, session: Session, public_id: str, reviewer_id: int, now: datetime,
            lease_expires_at: datetime | None = None) -> bool:
    """Give a leased item back to the queue (skip, logout). False if it was not held, or (given
    `lease_expires_at`, the lease's end when it was claimed) if its lease was renewed since."""
    params = {"held_public_id": public_id, "reviewer_id": reviewer_id, "now": now}
    if lease_expires_at is not None:
        params["claimed_until"] = lease_expires_at
    return _release(lease_expires_at is not None).run(session, params).rowcount == 1


def release_all(*, session: Session, reviewer_id: int, now: datetime) -> int:
    """Give back every item this reviewer holds (logout)."""
    return _give_back(session, Item.lease_holder == reviewer_id, now=now)


def sweep_expired_leases(*, session: Session, now: datetime) -> int:
    """Return items whose lease ran out to the queue. Decided items are never touched."""
    return _give_back(session, Item.lease_expires_at < now, now=now)
