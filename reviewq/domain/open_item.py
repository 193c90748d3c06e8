"""Opening one approval from a notification's link, out of queue order, for a logged-in reviewer.

The link only ever leads here: the reviewer still decides on the queue page, with their own
login, so every decision stays bound to an authenticated person (unlike approve buttons in
chat). Whatever cannot be opened says why, in words that are the same for planted and real
items: already settled (and by whom), past its deadline, or on someone else's screen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.audit import record_event, user_actor
from reviewq.domain.claims import release_all
from reviewq.domain.errors import Conflict, NotFound
from reviewq.domain.items import get_item
from reviewq.domain.notifications import note_opened, settled_state
from reviewq.domain.reviewer import ReviewerRef
from reviewq.domain.transitions import entering, guard
from reviewq.models import OPEN_STATUSES, Decision, Item, ItemKind, ItemStatus


class NotAvailable(Conflict):
    code = "not_available"


def _not_found(public_id: str) -> NotFound:
    return NotFound(f"no approval {public_id!r} is waiting for review", field="id")


def open_item(*, session: Session, public_id: str, reviewer: ReviewerRef, now: datetime, settings: Settings) -> Item:
    """Lease this approval to the reviewer (giving back whatever they held), or say why not."""
    try:
        item = get_item(session=session, public_id=public_id)
    except NotFound:
        raise _not_found(public_id) from None
    if item.kind != ItemKind.APPROVAL or (item.not_before is not None and item.not_before > now):
        raise _not_found(public_id)  # never announced: nothing to tell
    until = now + timedelta(seconds=settings.queue.lease_seconds)
    live = item.status == ItemStatus.LEASED and item.lease_expires_at is not None and item.lease_expires_at > now
    if live and item.lease_holder == reviewer.id:
        item.lease_expires_at, item.updated_at = until, now
        session.add(item)
        return item
    if item.status not in OPEN_STATUSES:
        _, summary = settled_state(session=session, item=item, now=now, settings=settings)
        raise NotAvailable(f"Nothing to do: this approval was {summary}.", field="id")
    if item.deadline is not None and item.deadline <= now:
        raise NotAvailable("Too late: this approval's deadline has passed, so it was denied by timeout.", field="id")
    if live:
        raise NotAvailable("Another reviewer has this approval open right now.", field="id")
    if item.required_approvals > 1:
        mine = session.exec(select(Decision.id).where(Decision.item_id == item.id,
                                                      Decision.reviewer_id == reviewer.id)).first()
        if mine is not None:
            raise NotAvailable("You already approved this one; it needs a second reviewer.", field="id")
    release_all(session=session, reviewer_id=reviewer.id, now=now)
    won = session.execute(
        sa.update(Item)
        .where(Item.id == item.id,
               sa.or_(guard(ItemStatus.LEASED, ItemStatus.QUEUED),
                      sa.and_(guard(ItemStatus.LEASED, ItemStatus.LEASED), Item.lease_expires_at <= now)))
        .values(**entering(ItemStatus.LEASED, now), lease_holder=reviewer.id, leased_at=now, lease_expires_at=until)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise NotAvailable("Another reviewer opened this approval a moment ago.", field="id")
    session.refresh(item)
    note_opened(session=session, item=item, reviewer_id=reviewer.id, now=now)
    record_event(session=session, actor=user_actor(reviewer.name), action="item.opened_from_link",
                 object_type="item", object_id=item.public_id, now=now)
    return item
