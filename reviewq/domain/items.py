"""Adding items to the queue (idempotently by dedupe key) and finding them again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from reviewq.domain.errors import NotFound
from reviewq.lean_sql import Prebuilt, loaded
from reviewq.models import Item, ItemCreate, ItemStatus, new_public_id


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
_ITEM_ROW = Prebuilt(select(*Item.__table__.columns).where(Item.public_id == sa.bindparam("public_id")))


def get_item(*, session: Session, public_id: str, snapshot: bool = False) -> Item:
    """The item; given `snapshot`, read off the bare cursor as the session's own object if it holds
    it, else a detached snapshot (lean_sql.loaded): for reads only, such as a woken waiter's."""
    if snapshot:
        row = _ITEM_ROW.run(session, {"public_id": public_id}).first()
        item = None if row is None else loaded(session, Item, row)
    else:
        item = session.scalars(_ITEM_BY_PUBLIC_ID, {"public_id": public_id}).first()
    if item is None:
        raise NotFound(f"no item {public_id!r}", field="id")
    return item


def loading_items(update: sa.Update) -> sa.Select:
    """`update` RETURNING every column of items, run as a SELECT that loads Item objects (refreshing
    any the session holds already).

    Run as ORM-enabled DML instead, SQLAlchemy annotates the statement afresh on every execution,
    so its cache key is computed again from the whole tree: a third of a claim's cost, with its
    three subqueries. A prebuilt select().from_statement() keeps its memoized key (so build it
    once, with its options: per-call options would make SQLAlchemy key it again)."""
    return (
        sa.select(Item)
        .from_statement(update.returning(*Item.__table__.columns))
        .execution_options(populate_existing=True)
    )


def set_loaded(obj, **values) -> None:
    """Record values the database already holds on an ORM object, without marking it changed."""
    for key, value in values.items():
        set_committed_value(obj, key, value)
