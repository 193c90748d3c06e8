"""An item's status moves only along `models.items.TRANSITIONS`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from reviewq.domain.errors import InvalidTransition
from reviewq.models import Item, ItemStatus, can_transition


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
