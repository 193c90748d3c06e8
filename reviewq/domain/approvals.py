"""Approval requests: create (idempotently), read, cancel, and expire on timeout (fail closed)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.approval_settlement import expire_open, on_approval_settled
from reviewq.domain.audit import agent_actor, record_event
from reviewq.domain.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from reviewq.domain.items import enqueue, get_item
from reviewq.domain.transitions import entering, guard
from reviewq.domain.webhooks import allowed_target
from reviewq.models import (
    OPEN_STATUSES,
    ApiToken,
    Approval,
    Item,
    ItemCreate,
    ItemKind,
    ItemStatus,
)
from reviewq.models.approvals import ApprovalCreate
from reviewq.tool_digest import tool_call_digest

# Expired per run of the expiry job; the next run takes the rest.
EXPIRY_BATCH = 500


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass(frozen=True)
class Requested:
    item: Item
    approval: Approval
    created: bool  # False: the same Idempotency-Key and body were seen before


def body_hash(data: ApprovalCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def reviewer_payload(data: ApprovalCreate) -> dict:
    """What reviewers see: never the callback URL, the idempotency key or the token."""
    payload = {
        "actor": data.actor,
        "intent": data.intent,
        "constraints": data.constraints,
        "tool_call": data.tool_call.model_dump(mode="json"),
        "irreversible": data.irreversible,
    }
    if data.context is not None:
        payload["context"] = data.context
    return payload


def request_approval(
    *, session: Session, token: ApiToken, data: ApprovalCreate, idempotency_key: str | None,
    settings: Settings, now: datetime,
) -> Requested:
    timeout_s = data.timeout_s or settings.approvals.default_timeout_s
    if timeout_s > settings.approvals.max_timeout_s:
        raise ValidationFailed(
            f"timeout_s may be at most {settings.approvals.max_timeout_s}", field="timeout_s"
        )
    if data.callback_url is not None:
        allowed_target(data.callback_url, settings.webhooks.allowed_hosts)
    try:  # the digest that binds the approval; JSON's 1e400 parses to infinity, which no digest can carry
        tool_digest = tool_call_digest(data.tool_call.name, data.tool_call.args)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="tool_call.args") from None
    digest = body_hash(data)
    two_person = data.irreversible and settings.queue.two_person_rule
    create = ItemCreate(
        kind=ItemKind.APPROVAL,
        trace_id=data.trace_id,
        agent=token.agent,
        category=data.intent,
        payload=reviewer_payload(data),
        deadline=now + timedelta(seconds=timeout_s),
        required_approvals=2 if two_person else 1,
        dedupe_key=f"approval:{token.agent}:{idempotency_key}" if idempotency_key else None,
        token_id=token.id,
    )
    done = enqueue(session=session, data=create, now=now)
    if not done.created:
        approval = session.exec(select(Approval).where(Approval.item_id == done.item.id)).first()
        if approval is None or approval.body_hash != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was used with a different request body", field="Idempotency-Key"
            )
        return Requested(item=done.item, approval=approval, created=False)
    approval = Approval(
        item_id=done.item.id, token_id=token.id, idempotency_key=idempotency_key, body_hash=digest,
        callback_url=data.callback_url, created_at=now,
        tool_digest=tool_digest,
        valid_for_s=settings.approvals.valid_for_s,
    )
    session.add(approval)
    record_event(
        session=session, actor=agent_actor(token.agent), action="approval.requested", object_type="item",
        object_id=done.item.public_id, now=now,
        details={"intent": data.intent, "irreversible": data.irreversible, "timeout_s": timeout_s},
    )
    session.flush()
    return Requested(item=done.item, approval=approval, created=True)


def agent_item(*, session: Session, token: ApiToken, public_id: str, kind: ItemKind | None = None,
               snapshot: bool = False) -> Item:
    """An item of this token's agent; anything else (other agents, canaries) is simply not found.
    `snapshot`: read only, so it may come back detached (items.get_item)."""
    try:
        item = get_item(session=session, public_id=public_id, snapshot=snapshot)
    except NotFound:
        item = None
    if item is None or item.token_id is None or item.agent != token.agent or (kind and item.kind != kind):
        what = "approval" if kind == ItemKind.APPROVAL else "item"
        raise NotFound(f"no {what} {public_id!r} for this agent", field="id")
    return item


def cancel_approval(*, session: Session, token: ApiToken, public_id: str, now: datetime) -> Item:
    """Withdraw a pending approval. Cancelling a cancelled one is a no-op; a settled one is a 409."""
    item = agent_item(session=session, token=token, public_id=public_id, kind=ItemKind.APPROVAL)
    if item.status == ItemStatus.CANCELLED:
        return item
    won = session.execute(
        sa.update(Item)
        .where(Item.id == item.id, guard(ItemStatus.CANCELLED, *OPEN_STATUSES))
        .values(**entering(ItemStatus.CANCELLED, now), outcome=None, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(item)
    if won != 1:
        raise InvalidTransition(f"approval is already {item.status.value}", field="id")
    record_event(session=session, actor=agent_actor(token.agent), action="approval.cancelled",
                 object_type="item", object_id=item.public_id, now=now)
    on_approval_settled(session=session, item=item, now=now)
    return item


def expire_due(*, session: Session, now: datetime, settings: Settings, limit: int = EXPIRY_BATCH,
               item_id: int | None = None) -> list[Item]:
    """Expire open approval requests past their deadline. Only agent requests (with a record).

    With `item_id`, only that item (a long-poll settling the approval it waits on at its deadline).
    """
    query = (
        select(Item.id)
        .join(Approval, Approval.item_id == Item.id)
        .where(Item.kind == ItemKind.APPROVAL, Item.status.in_(OPEN_STATUSES), Item.deadline <= now)
        .order_by(Item.deadline)
        .limit(limit)
    )
    if item_id is not None:
        query = query.where(Item.id == item_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Item)
    expired = []
    for due_id in session.exec(query).all():
        item = session.get(Item, due_id)
        if expire_open(session=session, item=item, now=now, settings=settings) is not None:
            expired.append(item)
    return expired
