"""What a notification says, as a plain dict every channel formats its own way. Pure functions.

STEALTH (DESIGN.md "Canaries"): a message is built from the reviewer-visible fields only
(review_view.REVIEWER_ITEM_FIELDS minus created_at, which a planted item backdates), so a
planted approval's message has the same fields, made by the same rule, as a real one's.
Nothing here can decide: the link opens the item in /queue, behind the login.
No secret reaches a message: tool-call arguments whose names look like credentials are masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SUMMARY_LIMIT = 240
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|authori[sz]ation|credential|private[_-]?key|cookie",
                         re.I)
MASK = "•••"

EVENTS = {
    "new": "approval.requested",
    "escalation": "approval.escalated",
    "unstaffed": "approval.unstaffed",
    "update": "approval.updated",
    "digest": "digest.weekly",
}


@dataclass(frozen=True)
class ApprovalFacts:
    """The reviewer-visible facts of one approval request."""

    public_id: str
    agent: str
    category: str
    intent: str
    actor: str
    tool_call: str
    irreversible: bool
    deadline: datetime


def facts_from(*, public_id: str, agent: str, category: str, payload: Any, deadline: datetime) -> ApprovalFacts:
    payload = payload if isinstance(payload, dict) else {}
    return ApprovalFacts(
        public_id=public_id, agent=agent, category=category,
        intent=str(payload.get("intent") or category)[:64],
        actor=str(payload.get("actor") or agent)[:200],
        tool_call=tool_call_summary(payload.get("tool_call")),
        irreversible=payload.get("irreversible") is True,
        deadline=deadline,
    )


def masked(value: Any) -> Any:
    """The value with every credential-looking key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_KEY.search(str(k)) else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def tool_call_summary(tool_call: Any, limit: int = SUMMARY_LIMIT) -> str:
    """`name(key=value, ...)`, credentials masked, cut to `limit` characters."""
    if not isinstance(tool_call, dict):
        return "(no tool call)"
    name = str(tool_call.get("name") or "?")
    args = masked(tool_call.get("args") or {})
    parts = [f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in args.items()] \
        if isinstance(args, dict) else [json.dumps(args, default=str)]
    text = f"{name}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%H:%M} {local.tzname()}"


def stamp(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def item_link(public_url: str, public_id: str) -> str:
    return f"{public_url.rstrip('/')}/queue/items/{public_id}"


def _minutes(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def approval_message(
    *, notification_id: str, facts: ApprovalFacts, stage: str, step: int, link: str, now: datetime, tz: ZoneInfo,
    share: float | None = None, settled: str | None = None, settled_status: str | None = None,
) -> dict[str, Any]:
    """The message for a new, escalated or unstaffed approval, or its update once settled."""
    irreversible = " (irreversible)" if facts.irreversible else ""
    title = f"Approval needed: {facts.intent} requested by {facts.actor}{irreversible}"
    lead = {
        "new": "An approval request is waiting for a reviewer.",
        "escalation": f"Still pending at {round((share or 0) * 100)}% of its time: nobody has decided it yet.",
        "unstaffed": "Nobody is on call to review this approval request.",
    }[stage]
    if stage != "new":
        title = ("Escalation: " if stage == "escalation" else "Nobody on call: ") + title
    state = settled_status or "pending"
    if settled is not None:
        lead = f"Settled: {settled}. Nothing more to do."
        title = f"[{state}] {title}"
        deadline = f"Deadline: {stamp(facts.deadline, tz)}"
    else:
        deadline = f"Deadline: {stamp(facts.deadline, tz)} (in {_minutes((facts.deadline - now).total_seconds())})"
    lines = [
        lead,
        f"Intent: {facts.intent} · category {facts.category} · agent {facts.agent}",
        f"Actor: {facts.actor}",
        f"Tool call: {facts.tool_call}",
        deadline,
        f"Open it in the queue (log in to decide): {link}",
    ]
    return {
        "id": notification_id,
        "event": EVENTS["update" if settled is not None else stage],
        "stage": stage,
        "step": step,
        "state": state,
        "title": title,
        "text": "\n".join(lines),
        "approval": {
            "id": facts.public_id, "intent": facts.intent, "category": facts.category, "agent": facts.agent,
            "actor": facts.actor, "tool_call": facts.tool_call, "irreversible": facts.irreversible,
            "deadline": facts.deadline.isoformat().replace("+00:00", "Z"),
        },
        "link": link,
        "settled": settled,
    }


def settled_summary(*, status: str, deciders: list[str], at: datetime, tz: ZoneInfo, reason: str | None = None,
                    outcome: str | None = None) -> str:
    """"approved by ada at 10:42 UTC", "denied by ben at 11:03 UTC (wrong_tool_call)", "expired at …"."""
    when = clock(at, tz)
    names = " and ".join(deciders) if deciders else "a reviewer"
    if status == "approved":
        return f"approved by {names} at {when}"
    if status == "denied":
        return f"denied by {names} at {when}" + (f" ({reason})" if reason else "")
    if status == "expired":
        verdict = "approved" if outcome == "approve" else "denied"
        return f"expired at {when}: nobody decided in time, so it was {verdict} by timeout"
    if status == "cancelled":
        return f"cancelled by the agent at {when}"
    return f"{status} at {when}"


def digest_message(*, notification_id: str, title: str, lines: list[str], link: str) -> dict[str, Any]:
    return {"id": notification_id, "event": EVENTS["digest"], "stage": "digest", "step": 0, "state": "info",
            "title": title, "text": "\n".join([*lines, f"Dashboard: {link}"]), "approval": None, "link": link,
            "settled": None}
