"""What a reviewer saw of each item they were served, as features, for the stealth audit.

One row per (reviewer, item) first decision over the window: agent, category, kind, payload shape
and coarse text features, the item's age when served, minutes into session, whether it shares
its created time with the item served just before (agent batches), the hour it was created,
and for approvals the deadline's span and whether the category is the intent. The planted fault
itself is left out: text features of a mutated copy are read from its source payload
(`Injection.original_payload`), since a canary *should* be detectable by its fault. Drill items
(onboarding, a lead's drill) are announced training and left out too, and so are items a reviewer
opened from a notification's link: only real approvals are announced (planted items never are), so
such an item is known to be real and was never a claim that could have been planted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.domain.canary_rate import week_start_for
from reviewq.models import AuditEvent, Decision, Injection, Item, ItemKind, User

MAX_JSON_KEYS = 12


@dataclass(frozen=True)
class ViewRow:
    features: dict[str, Any]
    planted: bool
    source: str | None  # projection | mutation | library | control (None for real items)
    template: str | None
    group: str  # CV group: the library entry or source item, so folds never share a template
    slot: tuple[str, str, str]  # agent, category, kind: a template is compared with real items of its slots
    unit: str = ""  # the item's own source: copies of one source stay in one fold even within a template
    # (reviewer, week): the stream planted items are a uniform draw of, at that week's rate (stealth_audit.py)
    stream: tuple[int, str] | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True) if value is not None else ""


def payload_features(payload: dict, kind: str, category: str) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for key in ("input", "output", "context", "trace", "metadata"):
        f[f"has_{key}"] = int(key in payload)
    if kind == ItemKind.APPROVAL.value:
        f["category_is_intent"] = int(payload.get("intent") == category)
        f["irreversible"] = int(payload.get("irreversible") is True)
        f["n_constraints"] = len(payload.get("constraints") or {})
        f["n_args"] = len((payload.get("tool_call") or {}).get("args") or {})
        f["len_context"] = math.log1p(len(_text(payload.get("context"))))
        return f
    output = payload.get("output")
    decoded = output
    if isinstance(output, str) and output.lstrip().startswith(("{", "[")):
        try:
            decoded = json.loads(output)
        except json.JSONDecodeError:
            decoded = output
    f["output_json"] = int(isinstance(decoded, dict | list))
    if isinstance(decoded, dict):
        for key in sorted(decoded)[:MAX_JSON_KEYS]:
            f[f"json_key={key}"] = 1
    text_in, text_out = _text(payload.get("input")), _text(output)
    f["len_input"] = math.log1p(len(text_in))
    f["len_output"] = math.log1p(len(text_out))
    f["words_output"] = math.log1p(len(text_out.split()))
    f["digits_share"] = sum(c.isdigit() for c in text_out) / max(1, len(text_out))
    f["upper_share"] = sum(c.isupper() for c in text_out) / max(1, len(text_out))
    f["sentences_output"] = len(re.findall(r"[.!?](\s|$)", text_out))
    trace = payload.get("trace")
    f["n_trace"] = len(trace) if isinstance(trace, list) else 0
    return f


def timing_features(*, created_at: datetime, deadline: datetime | None, shown_at: datetime,
                    minutes_into_session: float | None, same_batch: bool) -> dict[str, Any]:
    age_min = max(0.0, (shown_at - created_at).total_seconds() / 60)
    hour = created_at.hour + created_at.minute / 60
    f = {
        "age_min_log": math.log1p(age_min),
        "minutes_into_session": minutes_into_session or 0.0,
        "same_created_as_previous": int(same_batch),
        "created_hour_sin": math.sin(2 * math.pi * hour / 24),
        "created_hour_cos": math.cos(2 * math.pi * hour / 24),
        "created_weekday": created_at.weekday(),
    }
    if deadline is not None:
        f["deadline_span_log"] = math.log1p(max(0.0, (deadline - created_at).total_seconds()))
        f["minutes_left_log"] = math.log1p(max(0.0, (deadline - shown_at).total_seconds() / 60))
    return f


def reviewer_view_rows(*, session: Session, now: datetime, weeks: int = 4, timezone: str = "UTC") -> list[ViewRow]:
    """Every item served to a reviewer over the last `weeks`, with its label, CV group and stream
    (`timezone`: the canary week's, [canaries] timezone)."""
    zone = ZoneInfo(timezone)
    since = now - timedelta(weeks=weeks)
    first = (
        select(sa.func.min(Decision.id).label("id"))
        .where(Decision.shown_at >= since, Decision.shown_at <= now)
        .group_by(Decision.item_id, Decision.reviewer_id)
        .subquery()
    )
    rows = session.exec(
        select(Decision, Item, Injection)
        .join(first, first.c.id == Decision.id)
        .join(Item, Item.id == Decision.item_id)
        .join(Injection, sa.and_(Injection.item_id == Item.id, Injection.reviewer_id == Decision.reviewer_id),
              isouter=True)
        .order_by(Decision.reviewer_id, Decision.shown_at, Decision.id)
    ).all()
    names = dict(session.exec(select(User.id, User.name)).all())
    from_link = set(session.exec(
        select(AuditEvent.actor, AuditEvent.object_id)
        .where(AuditEvent.action == "item.opened_from_link", AuditEvent.at >= since, AuditEvent.at <= now)
    ).all())
    out: list[ViewRow] = []
    previous: tuple[int, datetime] | None = None
    for decision, item, injection in rows:
        kind = ItemKind(item.kind).value
        same_batch = previous is not None and previous[0] == decision.reviewer_id and previous[1] == item.created_at
        previous = (decision.reviewer_id, item.created_at)
        payload = injection.original_payload if injection is not None and injection.original_payload else item.payload
        features = {"agent=" + item.agent: 1, "category=" + item.category: 1, "kind=" + kind: 1}
        features |= payload_features(payload if isinstance(payload, dict) else {}, kind, item.category)
        features |= timing_features(created_at=item.created_at, deadline=item.deadline, shown_at=decision.shown_at,
                                    minutes_into_session=decision.minutes_into_session, same_batch=same_batch)
        slot = (item.agent, item.category, kind)
        stream = (decision.reviewer_id, week_start_for(decision.shown_at, zone).date().isoformat())
        if injection is None:
            if (f"user:{names.get(decision.reviewer_id)}", item.public_id) in from_link:
                continue  # opened from a notification: known to be real, not a claim
            ref = f"ref:{item.agent}:{item.trace_id}"
            out.append(ViewRow(features, False, None, None, ref, slot, ref, stream))
            continue
        if injection.drill:
            continue  # an onboarding or lead's drill is announced training, not measured (nor audited)
        source = injection.source.value if hasattr(injection.source, "value") else str(injection.source)
        if injection.library_entry_id:
            group = f"entry:{injection.library_entry_id}"
        elif injection.source_ref:
            group = f"ref:{injection.source_ref}"
        else:
            group = f"planted:{injection.id}"
        template = injection.template or injection.library_entry_id or source
        unit = f"ref:{injection.source_ref}" if injection.source_ref else f"planted:{injection.id}"
        out.append(ViewRow(features, True, source, template, group, slot, unit, stream))
    return out
