"""One item as a lead sees it (everything), and as one of its reviewers sees it (their own part).

A reviewer may open only items they decided, sees only their own decisions, and learns an item
was planted only once it has been revealed to them (after their decision, per [canaries] reveal).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reviewq.domain.errors import NotFound
from reviewq.domain.items import get_item
from reviewq.domain.overturn import current_label
from reviewq.models import (
    ApiToken,
    Approval,
    AuditEvent,
    Decision,
    Injection,
    Item,
    JudgeVerdict,
    OverlapReview,
    Overturn,
    User,
    WebhookDelivery,
)


def _v(value):
    return getattr(value, "value", value)


def _iso(value):
    return value.isoformat() if value is not None else None


def _item_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.public_id, "kind": _v(item.kind), "agent": item.agent, "category": item.category,
        "trace_id": item.trace_id, "status": _v(item.status), "outcome": _v(item.outcome),
        "payload": item.payload, "created_at": _iso(item.created_at), "deadline": _iso(item.deadline),
        "decided_at": _iso(item.decided_at),
    }


def _decisions(session: Session, item_ids: list[int], *, reviewer_id: int | None = None,
               second: set[int] = frozenset()) -> list[dict[str, Any]]:
    query = (
        sa.select(Decision, User.name, Item.public_id)
        .join(User, User.id == Decision.reviewer_id)
        .join(Item, Item.id == Decision.item_id)
        .where(Decision.item_id.in_(item_ids))
        .order_by(Decision.decided_at, Decision.id)
    )
    if reviewer_id is not None:
        query = query.where(Decision.reviewer_id == reviewer_id)
    return [
        {"reviewer": name, "verdict": _v(d.verdict), "reason": _v(d.reason), "note": d.note,
         "shown_at": _iso(d.shown_at), "decided_at": _iso(d.decided_at), "active_ms": d.active_ms,
         "server_ms": d.server_ms, "minutes_into_session": d.minutes_into_session,
         "second_review": d.item_id in second, "served_as": public_id}
        for d, name, public_id in session.execute(query)
    ]


def _injection_json(session: Session, injection: Injection) -> dict[str, Any]:
    reviewer = session.get(User, injection.reviewer_id)
    source = session.get(Item, injection.source_item_id) if injection.source_item_id else None
    return {
        "kind": _v(injection.kind), "source": _v(injection.source), "bucket": injection.bucket,
        "library_entry_id": injection.library_entry_id, "source_item": source.public_id if source else None,
        "explanation": injection.explanation, "planted_for": reviewer.name if reviewer else None,
        "outcome": _v(injection.outcome), "diagnosed": injection.diagnosed,
        "scheduled_for": _iso(injection.scheduled_for), "decided_at": _iso(injection.decided_at),
        "revealed_at": _iso(injection.revealed_at),
    }


def _overlap(session: Session, item: Item) -> OverlapReview | None:
    return session.execute(
        sa.select(OverlapReview).where(sa.or_(OverlapReview.item_id == item.id, OverlapReview.copy_item_id == item.id))
    ).scalar()


def lead_view(*, session: Session, public_id: str) -> dict[str, Any]:
    """Everything about one item: payload, every decision, approval history, webhooks, planting."""
    item = get_item(session=session, public_id=public_id)
    overlap = _overlap(session, item)
    if overlap is not None and overlap.copy_item_id == item.id:
        original = session.get(Item, overlap.item_id)
    else:
        original = None
    ids = [item.id]
    second: set[int] = set()
    if overlap is not None and original is None:
        ids.append(overlap.copy_item_id)
        second.add(overlap.copy_item_id)
    injection = session.execute(sa.select(Injection).where(Injection.item_id == item.id)).scalar()
    approval = session.execute(
        sa.select(Approval, ApiToken.agent).join(ApiToken, ApiToken.id == Approval.token_id)
        .where(Approval.item_id == item.id)
    ).first()
    history = [
        {"at": _iso(e.at), "actor": e.actor, "action": e.action, "details": e.details}
        for e in session.execute(
            sa.select(AuditEvent).where(AuditEvent.object_type == "item", AuditEvent.object_id == item.public_id)
            .order_by(AuditEvent.at, AuditEvent.id)
        ).scalars()
    ]
    deliveries = [
        {"webhook_id": d.webhook_id, "event_type": d.event_type, "url": d.url, "status": _v(d.status),
         "attempts": d.attempts, "last_status_code": d.last_status_code, "last_error": d.last_error,
         "created_at": _iso(d.created_at), "delivered_at": _iso(d.delivered_at),
         "next_attempt_at": _iso(d.next_attempt_at)}
        for d in session.execute(
            sa.select(WebhookDelivery).where(WebhookDelivery.item_id == item.id).order_by(WebhookDelivery.id)
        ).scalars()
    ]
    overturns = [
        {"at": _iso(o.at), "lead": name, "from": _v(o.previous_verdict), "to": _v(o.verdict), "reason": o.reason,
         "note": o.note, "agent_acted": o.agent_acted}
        for o, name in session.execute(
            sa.select(Overturn, User.name).join(User, User.id == Overturn.lead_id)
            .where(Overturn.item_id == item.id).order_by(Overturn.at, Overturn.id)
        )
    ]
    judge = session.get(JudgeVerdict, item.id)
    label, label_reason = current_label(session=session, item=item)
    return {
        "item": _item_json(item),
        "decisions": _decisions(session, ids, second=second),
        "label": {"verdict": _v(label), "reason": label_reason, "overturned": bool(overturns)},
        "overturns": overturns,
        "approval": None if _v(item.kind) != "approval" else {
            "required_approvals": item.required_approvals,
            **({} if approval is None else {
                "agent": approval[1], "idempotency_key": approval[0].idempotency_key,
                "callback_url": approval[0].callback_url, "created_at": _iso(approval[0].created_at)}),
        },
        "history": history,
        "deliveries": deliveries,
        "planted": _injection_json(session, injection) if injection is not None else None,
        "judge": None if judge is None else {"verdict": _v(judge.verdict), "score": judge.score, "model": judge.model},
        "overlap": None if overlap is None else {
            "original": original.public_id if original is not None else None,
            "copy": None if original is not None else session.get(Item, overlap.copy_item_id).public_id,
            "adjudicated": _v(overlap.adjudicated_verdict),
            "adjudication_note": overlap.adjudication_note,
        },
    }


def reviewer_view(*, session: Session, public_id: str, reviewer_id: int) -> dict[str, Any]:
    """The item as this reviewer decided it: NotFound unless they decided it, their decisions only,
    and the planted marking only once revealed to them."""
    try:
        item = get_item(session=session, public_id=public_id)
    except NotFound:
        item = None
    if item is None or not session.execute(
        sa.select(sa.exists().where(Decision.item_id == item.id, Decision.reviewer_id == reviewer_id))
    ).scalar():
        # The same answer whether the item exists or not: nothing to learn from probing ids.
        raise NotFound("you have not decided an item with this id", field="id")
    injection = session.execute(sa.select(Injection).where(Injection.item_id == item.id)).scalar()
    planted = None
    if injection is not None and injection.reviewer_id == reviewer_id and injection.revealed_at is not None:
        planted = {"kind": _v(injection.kind), "explanation": injection.explanation,
                   "outcome": _v(injection.outcome), "revealed_at": _iso(injection.revealed_at)}
    view = {
        "id": item.public_id, "kind": _v(item.kind), "agent": item.agent, "category": item.category,
        "payload": item.payload, "created_at": _iso(item.created_at), "deadline": _iso(item.deadline),
    }
    return {"item": view, "decisions": _decisions(session, [item.id], reviewer_id=reviewer_id), "planted": planted}


def own_history(
    *, session: Session, reviewer_id: int, before: int | None, limit: int = 50
) -> tuple[list[dict], int | None]:
    """One page of this reviewer's own decisions, newest first, and the decision id the next page starts
    before. Nothing about planting or other reviewers: the same facts the queue page showed them."""
    query = (
        sa.select(Decision.id, Decision.verdict, Decision.reason, Decision.note, Decision.decided_at,
                  Decision.active_ms, Item.public_id, Item.kind, Item.agent, Item.category)
        .join(Item, Item.id == Decision.item_id)
        .where(Decision.reviewer_id == reviewer_id)
        .order_by(Decision.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(Decision.id < before)
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    out = [{"item": r.public_id, "kind": _v(r.kind), "agent": r.agent, "category": r.category,
            "verdict": _v(r.verdict), "reason": _v(r.reason), "note": r.note, "decided_at": _iso(r.decided_at),
            "active_ms": r.active_ms} for r in rows]
    return out, (rows[-1].id if more and rows else None)
