"""The reviewer's view of an item, a decision and a session, as JSON-ready dicts.

STEALTH (DESIGN.md "Canaries"): a planted canary is an ordinary item, marked only in the
injections table. So the reviewer view is built from exactly these item fields and nothing else:
public_id, kind, agent, category, payload, deadline, created_at. Never assigned_to, not_before,
priority, lease holder, token, internal ids or anything about injections: only canaries are
assigned to one reviewer, so any of those would give them away.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reviewq.config import Settings
from reviewq.domain.reviewer import SessionNow
from reviewq.models import Decision, Item, ItemKind

# The only Item attributes read below; tests check the view against this list.
REVIEWER_ITEM_FIELDS = ("public_id", "kind", "agent", "category", "payload", "deadline", "created_at")


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def item_view(item: Item, *, approvals_required: int, approvals_given: int) -> dict[str, Any]:
    """`approvals_required` is the item's stored `required_approvals` (read by the caller, see _view)."""
    approvals = None
    if item.kind == ItemKind.APPROVAL:
        approvals = {"required": approvals_required, "given": approvals_given}
    return {
        "id": item.public_id,
        "kind": ItemKind(item.kind).value,
        "agent": item.agent,
        "category": item.category,
        "payload": item.payload,
        "created_at": iso(item.created_at),
        "deadline": iso(item.deadline),
        "approvals": approvals,
    }


def decision_view(decision: Decision, *, public_id: str, settled: bool) -> dict[str, Any]:
    return {
        "item": public_id,
        "verdict": decision.verdict.value,
        "reason": getattr(decision.reason, "value", decision.reason),
        "note": decision.note,
        "decided_at": iso(decision.decided_at),
        "active_ms": decision.active_ms,
        # False only for the first approval of an item that needs two approvers.
        "settled": settled,
    }


def session_view(current: SessionNow, *, settings: Settings) -> dict[str, Any]:
    return {
        "running": current.running,
        "active_minutes": round(current.active_minutes, 2),
        "decisions": current.decisions,
        "break_nudge": current.nudge,
        "break_nudge_minutes": settings.vigilance.break_nudge_minutes,
    }
