"""Recording a skip (VIGILANCE.md §7): the item goes back to the queue, the event is kept.

A planted item skipped and never decided counts as not caught in the skip-aware catch rate,
so skipping hard items cannot raise a reviewer's figure.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain import claims
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.reviewer import ReviewerRef
from reviewq.models import Item, ItemStatus, Skip


def skip_item(*, session: Session, public_id: str, reviewer: ReviewerRef, now: datetime) -> bool:
    """Give a held item back and record the skip (and its audit event). False if it was not held."""
    # A plain read of four columns: release() updates the row in SQL, not through the ORM.
    item = session.execute(
        sa.select(Item.id, Item.status, Item.lease_holder, Item.leased_at).where(Item.public_id == public_id)
    ).first()
    if item is None or item.status != ItemStatus.LEASED or item.lease_holder != reviewer.id:
        return False
    held_ms = max(0, int((now - item.leased_at).total_seconds() * 1000)) if item.leased_at else 0
    if not claims.release(session=session, public_id=public_id, reviewer_id=reviewer.id, now=now):
        return False
    loaded = session.identity_map.get(session.identity_key(Item, item.id))
    if loaded is not None:  # release() changed the row in SQL: a loaded copy would still say LEASED
        session.expire(loaded)
    session.add(Skip(item_id=item.id, reviewer_id=reviewer.id, skipped_at=now, held_ms=held_ms))
    record_event(session=session, actor=user_actor(reviewer.name), action="item.skipped",
                 object_type="item", object_id=public_id, now=now)
    return True
