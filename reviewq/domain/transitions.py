"""An item's status moves only along `models.items.TRANSITIONS`, on every path.

Two rules live here and nowhere else:
- the status guard of every conditional UPDATE is read from the table (`guard`), so taking a
  transition out of the table makes every path that used it refuse;
- leaving the leased state clears the lease (`entering`).

Statements on the hot path are prebuilt; `per_table` builds them once per state of the table,
so they still follow it when it changes (a test takes a transition out).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.errors import InvalidTransition
from reviewq.models import Item, ItemStatus, can_transition
from reviewq.models.items import TRANSITIONS

Built = TypeVar("Built")


def sources(target: ItemStatus, among: tuple[ItemStatus, ...]) -> tuple[ItemStatus, ...]:
    """The statuses in `among` that the table lets move to `target`."""
    return tuple(status for status in among if target in TRANSITIONS[status])


def guard(target: ItemStatus, *among: ItemStatus, column: Any = Item.status) -> Any:
    """SQL: the row's status is one of `among` from which the table allows `target` (else nothing matches)."""
    allowed = sources(target, among)
    if not allowed:
        return sa.false()
    return column == allowed[0] if len(allowed) == 1 else column.in_(allowed)


def per_table(build: Callable[..., Built]) -> Callable[..., Built]:
    """Cache a statement builder per state of the transition table (and per argument)."""
    built: dict[tuple, Built] = {}

    @functools.wraps(build)
    def statement(*args: Any) -> Built:
        key = (tuple(TRANSITIONS.items()), args)
        found = built.get(key)
        if found is None:
            found = built[key] = build(*args)
        return found

    return statement


def entering(status: ItemStatus, now: Any) -> dict[str, Any]:
    """Column values for an item moving to `status` (`now` may be a value or a bind parameter).

    Leaving the leased state clears the lease; back in the queue the item is no longer shown
    either, so `leased_at` goes too. A settled item keeps `leased_at`: when it was last shown.
    """
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status != ItemStatus.LEASED:
        values.update(lease_holder=None, lease_expires_at=None)
    if status == ItemStatus.QUEUED:
        values["leased_at"] = None
    return values


def check(current: ItemStatus | str, target: ItemStatus) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(
            f"an item cannot go from {ItemStatus(current).value} to {target.value}", field="status"
        )


def set_status(*, session: Session, item: Item, status: ItemStatus, now: datetime) -> None:
    """Move a loaded item along the transition table, refusing any move it does not list."""
    check(item.status, status)
    for key, value in entering(status, now).items():
        setattr(item, key, value)
    session.add(item)
