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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain import reservoir
from reviewq.models import Decision, Injection, Item, ItemStatus, Outcome, Role, User, Verdict

NEAREST = 25  # candidates tried per source kind, nearest in creation time first
BANK_ITEMS = 300  # recent real items of the agent read for the value bank


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


def used_refs(session: Session, reviewer_id: int) -> set[str]:
    return set(session.exec(
        select(Injection.source_ref).where(Injection.reviewer_id == reviewer_id, Injection.source_ref.is_not(None))
    ).all())


def _not_planted():
    return ~select(Injection.id).where(Injection.item_id == Item.id).exists()


def _decided_by(reviewer_id: int):
    return select(Decision.id).where(Decision.item_id == Item.id, Decision.reviewer_id == reviewer_id).exists()


def _nearest(rows, near: datetime, exclude: set[str]) -> list:
    """The served item's own batch (same created time) first, then the nearest in time; none this
    reviewer was already planted from."""
    rows = [r for r in rows if f"{r.agent}:{r.trace_id}" not in exclude]
    return sorted(rows, key=lambda r: (r.created_at != near, abs((r.created_at - near).total_seconds())))[:NEAREST]


def least_used_first(session: Session, found: list[Source]) -> list[Source]:
    """The same sources, those planted least often so far first (stable: nearest first among equals)."""
    refs = {s.ref for s in found}
    if not refs:
        return found
    uses = dict(session.exec(
        select(Injection.source_ref, sa.func.count(Injection.id))
        .where(Injection.source_ref.in_(refs)).group_by(Injection.source_ref)
    ).all())
    return sorted(found, key=lambda s: uses.get(s.ref, 0))


def _with_payloads(session: Session, rows: list) -> list[Source]:
    """Sources for (id, agent, trace_id, created_at) rows, in their order, read in one statement."""
    if not rows:
        return []
    full = {r.id: r for r in session.exec(
        select(Item.id, Item.category, Item.kind, Item.payload).where(Item.id.in_([r.id for r in rows]))
    ).all()}
    sources = []
    for r in rows:
        item = full[r.id]
        sources.append(Source(r.agent, item.category, getattr(item.kind, "value", item.kind), r.trace_id,
                              item.payload, r.created_at, f"{r.agent}:{r.trace_id}", r.id))
    return sources


def reservoir_sources(*, session: Session, served: Item, settings: Settings, now: datetime,
                      exclude: set[str]) -> list[Source]:
    if not settings.canaries.reservoir or served.kind.value != "output":
        return []
    rows = reservoir.candidates(session=session, agent=served.agent, category=served.category,
                                near=served.created_at, now=now, settings=settings.canaries, exclude_refs=exclude,
                                limit=NEAREST)
    return least_used_first(session, [
        Source(r.agent, r.category, "output", r.trace_id, r.payload, r.created_at, f"{r.agent}:{r.trace_id}", None)
        for r in rows])


def _slot_items(session: Session, served: Item, reviewer_id: int, now: datetime, days: int):
    # Only what _nearest sorts on: up to 400 rows, of which NEAREST are kept and read in full
    # (_with_payloads). Reading 400 whole items and their payloads was a tenth of a claim's time.
    return (
        select(Item.id, Item.agent, Item.trace_id, Item.created_at)
        .where(Item.agent == served.agent, Item.category == served.category, Item.kind == served.kind,
               Item.status == ItemStatus.DECIDED, Item.outcome == Outcome.APPROVE,
               Item.created_at >= now - timedelta(days=days), Item.id != served.id,
               _not_planted(), ~_decided_by(reviewer_id))
        .order_by(Item.decided_at.desc())
        .limit(400)
    )


def decided_sources(*, session: Session, served: Item, reviewer_id: int, settings: Settings, now: datetime,
                    exclude: set[str]) -> list[Source]:
    """Approved items of the slot decided by others: this reviewer never saw them and never will."""
    rows = session.exec(_slot_items(session, served, reviewer_id, now, settings.canaries.source_days)).all()
    return least_used_first(session, _with_payloads(session, _nearest(rows, served.created_at, exclude)))


def confirmed_good(*, session: Session, served: Item, reviewer_id: int, settings: Settings, now: datetime,
                   exclude: set[str]) -> list[Source]:
    """Items of the slot approved by two reviewers, or by a lead: known good, for controls."""
    approvals = (
        select(Decision.item_id)
        .join(User, User.id == Decision.reviewer_id)
        .where(Decision.verdict == Verdict.APPROVE)
        .group_by(Decision.item_id)
        .having(sa.or_(sa.func.count(sa.distinct(Decision.reviewer_id)) >= 2,
                       sa.func.max(sa.case((User.role != Role.REVIEWER, 1), else_=0)) == 1))
    )
    rows = session.exec(
        _slot_items(session, served, reviewer_id, now, settings.canaries.source_days).where(Item.id.in_(approvals))
    ).all()
    return least_used_first(session, _with_payloads(session, _nearest(rows, served.created_at, exclude)))


def bank_items(*, session: Session, agent: str, now: datetime, days: int) -> list[dict]:
    """The deployment's own recent data for the value bank: the agent's real items and reservoir outputs."""
    items = session.exec(
        select(Item.kind, Item.agent, Item.category, Item.payload)
        .where(Item.created_at >= now - timedelta(days=days), _not_planted())
        .order_by(Item.created_at.desc())
        .limit(BANK_ITEMS)
    ).all()
    out = [{"kind": k.value if hasattr(k, "value") else k, "agent": a, "category": c, "payload": p}
           for k, a, c, p in items]
    kept = session.exec(
        select(reservoir.ReservoirOutput).where(reservoir.ReservoirOutput.agent == agent)
        .order_by(reservoir.ReservoirOutput.created_at.desc()).limit(BANK_ITEMS)
    ).all()
    out += [{"kind": "output", "agent": r.agent, "category": r.category, "payload": r.payload} for r in kept]
    return out
