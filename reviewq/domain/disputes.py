"""Disputes of planted items (VIGILANCE.md §7): open, uphold, reject; everything audited.

A reviewer may dispute a planted item once it has been revealed to them. A lead upholds or
rejects. Upholding voids the item from every score and retires what made it:
- a library entry: every item rendered from it is voided, for everyone (they share the fault);
- a mutator: this item is voided and the mutator is never used again (its other items planted
  other faults in other sources, so they stand until disputed themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reviewq.domain.reviewer import ReviewerRef
from reviewq.lean_sql import Prebuilt
from reviewq.models import (
    DISPUTE_TRANSITIONS,
    Dispute,
    DisputeStatus,
    Injection,
    InjectionKind,
    InjectionOutcome,
    Item,
    RetiredTemplate,
    User,
    new_public_id,
)

MAX_NOTE = 2000
REPLAY = "replay"  # Injection.template of a known-good control re-served unchanged
DISPUTE_WINDOW_DAYS = 60  # revealed items older than this can no longer be disputed


def template_key(injection: Injection) -> str | None:
    """What made a planted item: "library:<entry>" or "mutator:<name>" (None if unknown)."""
    if injection.library_entry_id:
        return f"library:{injection.library_entry_id}"
    if injection.template and injection.template != REPLAY:
        return f"mutator:{injection.template}"
    return None  # a re-served real item (a control replay): voided, nothing to retire


# Every planted item reads it: off the bare cursor (lean_sql.py).
_RETIRED_KEYS = Prebuilt(select(RetiredTemplate.key))


def retired_keys(*, session: Session) -> set[str]:
    """Templates and mutators the planter must skip."""
    return set(_RETIRED_KEYS.run(session).scalars())


def retired_mutators(keys: set[str]) -> frozenset[str]:
    return frozenset(k.split(":", 1)[1] for k in keys if k.startswith("mutator:"))


def retired_library_entries(keys: set[str]) -> set[str]:
    return {k.split(":", 1)[1] for k in keys if k.startswith("library:")}


def _clean_note(note: str | None, field: str = "note") -> str:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("say why, in a note", field=field)
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"a note is at most {MAX_NOTE} characters", field=field)
    return note


def disputable(*, session: Session, reviewer_id: int, now: datetime, limit: int = 200) -> list[tuple]:
    """This reviewer's revealed planted items (recent first), each with its dispute if any."""
    since = now - timedelta(days=DISPUTE_WINDOW_DAYS)
    rows = session.execute(
        select(Injection, Item.public_id, Item.category, Dispute)
        .join(Item, Item.id == Injection.item_id)
        .outerjoin(Dispute, Dispute.injection_id == Injection.id)
        .where(Injection.reviewer_id == reviewer_id, Injection.revealed_at.is_not(None),
               Injection.revealed_at >= since)
        .order_by(Injection.revealed_at.desc(), Injection.id.desc())
        .limit(limit)
    ).all()
    return list(rows)


def open_dispute(
    *, session: Session, item_public_id: str, reviewer: ReviewerRef, note: str, now: datetime
) -> Dispute:
    """A reviewer disputes a planted item revealed to them ("this was not actually wrong")."""
    note = _clean_note(note)
    row = session.execute(
        select(Injection, Item).join(Item, Item.id == Injection.item_id).where(Item.public_id == item_public_id)
    ).first()
    # The same answer for "not planted" and "not yours": nothing about other items leaks.
    if row is None or row[0].reviewer_id != reviewer.id or row[0].revealed_at is None:
        raise NotFound("no revealed planted item of yours with that id", field="item")
    injection, item = row
    if row[0].revealed_at < now - timedelta(days=DISPUTE_WINDOW_DAYS):
        raise ValidationFailed(f"items revealed more than {DISPUTE_WINDOW_DAYS} days ago cannot be disputed",
                               field="item")
    if session.exec(select(Dispute.id).where(Dispute.injection_id == injection.id)).first() is not None:
        raise Conflict("this item has already been disputed", field="item")
    dispute = Dispute(public_id=new_public_id("dsp"), injection_id=injection.id, reviewer_id=reviewer.id,
                      note=note, created_at=now)
    session.add(dispute)
    session.flush()
    record_event(session=session, actor=user_actor(reviewer.name), action="dispute.opened", object_type="dispute",
                 object_id=dispute.public_id, now=now,
                 details={"item": item.public_id, "kind": injection.kind.value, "outcome": injection.outcome.value,
                          "template": template_key(injection)})
    return dispute


@dataclass(frozen=True)
class Resolution:
    dispute: Dispute
    voided: int  # planted items removed from scores
    retired: str | None  # the template or mutator key retired


def resolve_dispute(
    *, session: Session, dispute_public_id: str, lead: ReviewerRef, uphold: bool, note: str, now: datetime
) -> Resolution:
    """A lead upholds (void + retire) or rejects an open dispute, with a note; audited."""
    note = _clean_note(note, "resolution_note")
    dispute = session.exec(select(Dispute).where(Dispute.public_id == dispute_public_id)).first()
    if dispute is None:
        raise NotFound("no such dispute", field="dispute")
    target = DisputeStatus.UPHELD if uphold else DisputeStatus.REJECTED
    if target not in DISPUTE_TRANSITIONS[DisputeStatus(dispute.status)]:
        raise InvalidTransition(f"this dispute is already {DisputeStatus(dispute.status).value}", field="dispute")
    dispute.status, dispute.resolved_at, dispute.resolved_by, dispute.resolution_note = target, now, lead.id, note
    session.add(dispute)
    injection = session.get(Injection, dispute.injection_id)
    voided, key = 0, None
    if uphold:
        key = template_key(injection)
        voided = _void(session, injection, now)
        if key is not None and session.get(RetiredTemplate, key) is None:
            session.add(RetiredTemplate(key=key, retired_at=now, dispute_id=dispute.id, reason=note))
    session.flush()
    record_event(session=session, actor=user_actor(lead.name),
                 action="dispute.upheld" if uphold else "dispute.rejected", object_type="dispute",
                 object_id=dispute.public_id, now=now,
                 details={"note": note, "voided": voided, "retired": key})
    return Resolution(dispute=dispute, voided=voided, retired=key)


def _void(session: Session, injection: Injection, now: datetime) -> int:
    """Void this planted item, and for a library entry every item rendered from it (§7)."""
    query = sa.update(Injection).where(Injection.voided_at.is_(None))
    if injection.library_entry_id:
        query = query.where(Injection.library_entry_id == injection.library_entry_id)
    else:
        query = query.where(Injection.id == injection.id)
    count = session.execute(query.values(voided_at=now).execution_options(synchronize_session=False)).rowcount
    session.expire(injection)
    return count


def open_disputes(*, session: Session, limit: int = 200) -> list[tuple]:
    """Open disputes, oldest first, with the item, its planted fault and who disputed."""
    return list(session.execute(
        select(Dispute, Injection, Item.public_id, Item.category, Item.payload, User.name)
        .join(Injection, Injection.id == Dispute.injection_id)
        .join(Item, Item.id == Injection.item_id)
        .join(User, User.id == Dispute.reviewer_id)
        .where(Dispute.status == DisputeStatus.OPEN)
        .order_by(Dispute.created_at, Dispute.id)
        .limit(limit)
    ).all())


def recent_resolved(*, session: Session, limit: int = 50) -> list[tuple]:
    return list(session.execute(
        select(Dispute, Item.public_id, User.name)
        .join(Injection, Injection.id == Dispute.injection_id)
        .join(Item, Item.id == Injection.item_id)
        .join(User, User.id == Dispute.reviewer_id)
        .where(Dispute.status != DisputeStatus.OPEN)
        .order_by(Dispute.resolved_at.desc(), Dispute.id.desc())
        .limit(limit)
    ).all())


def dispute_wording(kind: InjectionKind, outcome: InjectionOutcome) -> str:
    """What the reviewer is claiming, in words."""
    if kind == InjectionKind.CANARY:
        return "This planted item was not actually wrong"
    return "This known-good item was actually wrong"
