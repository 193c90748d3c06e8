"""Where a projected item comes from: items this reviewer has never seen and will never be served.

In order of preference (DESIGN.md "Canaries"):
- canaries: an unsampled output of the same agent and category from the reservoir (nobody is
  ever served it), else a real item of the slot that another reviewer approved;
- controls: a real item of the slot approved by two reviewers or by a lead, re-served unchanged;
- either: a library entry that fits the slot (canaries/binding.py), as a fill-in.
Among the sources nearest the served item's creation time (so the copy's content is as fresh as
the work it stands in for), the ones planted least often so far, for anyone, come first: without
that, the few oldest items of a small pool (a lead's first spot-checks) are re-served to every
reviewer, and planted items take on those few items' quirks instead of the pool's, which is the
deployment's (the demo's billing controls had 12% longer inputs than real ones from 7 reuses of
the same items).

This runs on every planted claim, so the database does the choosing: the statements are built
once, the nearest candidates are ordered and cut in SQL, and payloads are read only for the
candidates actually tried (usually the first). Reading 400 rows and 25 payloads into Python on
each planted claim made those claims the review path's slowest 10 %.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.lean_sql import Prebuilt
from reviewq.models import Decision, Injection, Item, ItemStatus, Outcome, ReservoirOutput, Role, User, Verdict
from reviewq.models.common import UTCDateTime
from reviewq.sqlfuncs import not_indexed, seconds_apart

NEAREST = 25  # candidates tried per source kind, nearest in creation time first
RECENT = 400  # most recently approved items of the slot among which the nearest are looked for
# Controls look for confirmed-good items among this many most recently approved of the slot: where
# few are confirmed, the search read every approved item of the source window.
CONFIRMED_SCAN = 4000
PAYLOADS_AT_ONCE = 4  # candidates whose payloads are read per statement
BANK_ITEMS = 300  # recent real items of the agent read for the value bank
PAYLOADS_PER_READ = 500  # ids per IN (...) when reading the payloads a bank does not know yet


@dataclass(frozen=True)
class Source:
    agent: str
    category: str
    kind: str
    trace_id: str
    payload: dict[str, Any]
    created_at: datetime
    ref: str  # "agent:trace_id"
    item_id: int | None  # None for a reservoir output


def _not_planted():
    return ~select(Injection.id).where(Injection.item_id == Item.id).exists()


def _unused_by_reviewer(ref):
    """Never planted for this reviewer from this source (the unique index reviewer_id, source_ref)."""
    return ~select(Injection.id).where(Injection.reviewer_id == sa.bindparam("reviewer_id"),
                                       Injection.source_ref == ref).exists()


_NEAR = sa.bindparam("near", type_=UTCDateTime)
_SINCE = sa.bindparam("since", type_=UTCDateTime)


def _nearest_first(columns) -> list:
    """The served item's own batch (same created time) first, then the nearest in time."""
    return [columns.created_at != _NEAR, seconds_apart(columns.created_at, _NEAR)]


_USES = (
    select(Injection.source_ref, sa.func.count(Injection.id))
    .where(Injection.source_ref.in_(sa.bindparam("refs", expanding=True)))
    .group_by(Injection.source_ref)
)


def least_used_first(session: Session, found: list) -> list:
    """The same candidates, those planted least often so far first (stable: nearest first among equals)."""
    if not found:
        return found
    uses = dict(session.connection().execute(_USES, {"refs": sorted({_ref(r) for r in found})}).all())
    return sorted(found, key=lambda r: uses.get(_ref(r), 0))


def _ref(row) -> str:
    return f"{row.agent}:{row.trace_id}"


_ITEM_PAYLOADS = select(Item.id, Item.category, Item.kind, Item.payload).where(
    Item.id.in_(sa.bindparam("ids", expanding=True)))
_RESERVOIR_PAYLOADS = select(ReservoirOutput.id, ReservoirOutput.payload).where(
    ReservoirOutput.id.in_(sa.bindparam("ids", expanding=True)))


def _with_full_rows(session: Session, rows: Sequence, statement) -> Iterator[tuple[Any, Any]]:
    """(row, its full row by id from `statement`) in the rows' order, PAYLOADS_AT_ONCE per read."""
    for start in range(0, len(rows), PAYLOADS_AT_ONCE):
        chunk = rows[start:start + PAYLOADS_AT_ONCE]
        full = {f.id: f for f in session.connection().execute(statement, {"ids": [r.id for r in chunk]})}
        for r in chunk:
            yield r, full[r.id]


def _item_sources(session: Session, rows: Sequence) -> Iterator[Source]:
    """Sources for (id, agent, trace_id, created_at) item rows, in their order, payloads read as needed."""
    for r, item in _with_full_rows(session, rows, _ITEM_PAYLOADS):
        yield Source(r.agent, item.category, getattr(item.kind, "value", item.kind), r.trace_id, item.payload,
                     r.created_at, _ref(r), r.id)


def _reservoir_sources(session: Session, rows: Sequence) -> Iterator[Source]:
    for r, kept in _with_full_rows(session, rows, _RESERVOIR_PAYLOADS):
        yield Source(r.agent, r.category, "output", r.trace_id, kept.payload, r.created_at, _ref(r), None)


def _reservoir_nearest():
    slot = (
        select(ReservoirOutput.id, ReservoirOutput.agent, ReservoirOutput.category, ReservoirOutput.trace_id,
               ReservoirOutput.created_at)
        .where(ReservoirOutput.agent == sa.bindparam("agent"), ReservoirOutput.category == sa.bindparam("category"),
               ReservoirOutput.created_at >= sa.bindparam("since", type_=UTCDateTime),
               ReservoirOutput.created_at <= sa.bindparam("now", type_=UTCDateTime),
               _unused_by_reviewer(ReservoirOutput.agent + ":" + ReservoirOutput.trace_id))
    )
    # The slot is bounded ([canaries] reservoir_per_category): the database orders all of it.
    return slot.order_by(*_nearest_first(ReservoirOutput), ReservoirOutput.id.desc()).limit(NEAREST)


# Prebuilt (lean_sql.py): planting a canary runs these inside a reviewer's decide, on SQLite in
# the write turn every other reviewer waits for.
_RESERVOIR_NEAREST = Prebuilt(_reservoir_nearest())


def reservoir_sources(*, session: Session, served: Item, reviewer_id: int, settings: Settings,
                      now: datetime) -> Iterator[Source]:
    """Unsampled outputs of the served item's slot: nobody was or will be served them."""
    if not settings.canaries.reservoir or served.kind.value != "output":
        return iter(())
    since = now - timedelta(days=settings.canaries.source_days)
    rows = _RESERVOIR_NEAREST.run(session.connection(), {
        "agent": served.agent, "category": served.category, "since": since, "now": now, "near": served.created_at,
        "reviewer_id": reviewer_id}).all()
    return _reservoir_sources(session, least_used_first(session, rows))


def _confirmed_good():
    """Approved by two reviewers, or by a lead: known good."""
    approvals = select(Decision.id).where(Decision.item_id == Item.id, Decision.verdict == Verdict.APPROVE)
    two_reviewers = select(sa.func.count(sa.distinct(Decision.reviewer_id))).where(
        Decision.item_id == Item.id, Decision.verdict == Verdict.APPROVE).scalar_subquery() >= 2
    by_lead = approvals.join(User, User.id == Decision.reviewer_id).where(User.role != Role.REVIEWER).exists()
    return sa.or_(by_lead, two_reviewers)


def _slot_nearest(*, confirmed: bool):
    """Approved items of the served item's slot that this reviewer never decided and was never planted
    from: of the RECENT most recently decided, the NEAREST nearest in creation time. Controls take
    only confirmed-good items, among the CONFIRMED_SCAN most recently approved."""
    slot = (
        Item.agent == sa.bindparam("agent"), Item.category == sa.bindparam("category"),
        Item.kind == sa.bindparam("kind"), Item.status == ItemStatus.DECIDED, Item.outcome == Outcome.APPROVE,
        # Read backwards through ix_items_slot, stopping after enough matches; an index on
        # created_at would read the whole window and sort it.
        Item.decided_at >= _SINCE, not_indexed(Item.created_at) >= _SINCE,
        Item.id != sa.bindparam("served_id"),
    )
    if confirmed:
        scanned = (select(Item.id).where(*slot).order_by(Item.decided_at.desc())
                   .limit(sa.bindparam("confirmed_scan", type_=sa.Integer())).correlate(None))
        slot = (Item.id.in_(scanned), _confirmed_good())
    recent = (
        select(Item.id, Item.agent, Item.trace_id, Item.created_at, Item.decided_at)
        .where(*slot,
               _not_planted(),
               ~select(Decision.id).where(Decision.item_id == Item.id,
                                          Decision.reviewer_id == sa.bindparam("reviewer_id")).exists(),
               _unused_by_reviewer(Item.agent + ":" + Item.trace_id))
        .order_by(Item.decided_at.desc())
        .limit(RECENT)
        .subquery()
    )
    return (select(recent.c.id, recent.c.agent, recent.c.trace_id, recent.c.created_at)
            .order_by(*_nearest_first(recent.c), recent.c.decided_at.desc(), recent.c.id.desc())
            .limit(NEAREST))


_DECIDED_NEAREST = Prebuilt(_slot_nearest(confirmed=False))
_CONFIRMED_NEAREST = Prebuilt(_slot_nearest(confirmed=True))


def _slot_params(served: Item, reviewer_id: int, settings: Settings, now: datetime) -> dict:
    return {"agent": served.agent, "category": served.category, "kind": served.kind, "served_id": served.id,
            "since": now - timedelta(days=settings.canaries.source_days), "near": served.created_at,
            "reviewer_id": reviewer_id}


def decided_sources(*, session: Session, served: Item, reviewer_id: int, settings: Settings,
                    now: datetime) -> Iterator[Source]:
    """Approved items of the slot decided by others: this reviewer never saw them and never will."""
    rows = _DECIDED_NEAREST.run(session.connection(), _slot_params(served, reviewer_id, settings, now)).all()
    return _item_sources(session, least_used_first(session, rows))


def confirmed_good(*, session: Session, served: Item, reviewer_id: int, settings: Settings,
                   now: datetime) -> Iterator[Source]:
    """Items of the slot approved by two reviewers, or by a lead: known good, for controls."""
    params = {**_slot_params(served, reviewer_id, settings, now), "confirmed_scan": CONFIRMED_SCAN}
    rows = _CONFIRMED_NEAREST.run(session.connection(), params).all()
    return _item_sources(session, least_used_first(session, rows))


def bank_items(*, session: Session, agent: str, now: datetime, days: int,
               known: Container[Hashable] = frozenset()) -> list[dict]:
    """The deployment's own recent data for the value bank: the agent's real items and reservoir outputs.

    Only the agent's own: another agent's ids, amounts and names can share a format and still read
    as foreign (an INV-20931 in a reply about orders that are all ORD-…).

    Each has a "key" (its row, which never changes); one whose key is in `known` (contributions a
    bank remembers) comes without its payload, which is then neither read nor decoded."""
    items = session.exec(
        select(Item.kind, Item.agent, Item.category, Item.id, Item.created_at)
        .where(Item.agent == agent, Item.created_at >= now - timedelta(days=days), _not_planted())
        .order_by(Item.created_at.desc())
        .limit(BANK_ITEMS)
    ).all()
    out = [{"kind": k.value if hasattr(k, "value") else k, "agent": a, "category": c, "key": ("item", i, t)}
           for k, a, c, i, t in items]
    kept = session.exec(
        select(ReservoirOutput.agent, ReservoirOutput.category, ReservoirOutput.id, ReservoirOutput.created_at)
        .where(ReservoirOutput.agent == agent)
        .order_by(ReservoirOutput.created_at.desc()).limit(BANK_ITEMS)
    ).all()
    out += [{"kind": "output", "agent": a, "category": c, "key": ("reservoir", i, t)} for a, c, i, t in kept]
    for table, model in (("item", Item), ("reservoir", ReservoirOutput)):
        wanted = {row["key"][1]: row for row in out if row["key"][0] == table and row["key"] not in known}
        ids = list(wanted)
        for start in range(0, len(ids), PAYLOADS_PER_READ):
            chunk = ids[start:start + PAYLOADS_PER_READ]
            for row_id, payload in session.exec(select(model.id, model.payload).where(model.id.in_(chunk))):
                wanted[row_id]["payload"] = payload
    return out
