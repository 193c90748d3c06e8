"""Retiring what the stealth audit flags: a lead stops a library entry or a mutator in this deployment.

Unlike an upheld dispute (disputes.py) nothing is voided: items already planted were fair tests
(their fault was real), the template only looked unlike live traffic. A retired key is skipped by
the planter (projection.choose reads disputes.retired_keys); reinstating it plants it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from reviewq.canaries.mutators import APPROVAL_MUTATORS, OUTPUT_MUTATORS
from reviewq.domain.audit import record_event
from reviewq.domain.errors import NotFound, ValidationFailed
from reviewq.models import RetiredTemplate

MAX_REASON = 500


def check_key(key: str) -> str:
    """"library:<entry id>" or "mutator:<name of a mutator>"."""
    kind, _, name = (key or "").strip().partition(":")
    if kind not in ("library", "mutator") or not name:
        raise ValidationFailed('say what to retire: "library:<entry id>" or "mutator:<name>"', field="key")
    if kind == "mutator" and name not in {m.name for m in OUTPUT_MUTATORS + APPROVAL_MUTATORS}:
        raise ValidationFailed(f"no mutator {name!r}", field="key")
    return f"{kind}:{name}"


def retire(*, session: Session, key: str, reason: str, actor: str, now: datetime) -> RetiredTemplate:
    key = check_key(key)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say why, in a reason", field="reason")
    if len(reason) > MAX_REASON:
        raise ValidationFailed(f"a reason is at most {MAX_REASON} characters", field="reason")
    found = session.get(RetiredTemplate, key)
    if found is None:
        found = RetiredTemplate(key=key, retired_at=now, reason=reason)
        session.add(found)
        session.flush()
        record_event(session=session, actor=actor, action="canaries.retired",
                     object_type="template", object_id=key, now=now, details={"reason": reason})
    return found


def reinstate(*, session: Session, key: str, actor: str, now: datetime) -> None:
    found = session.get(RetiredTemplate, check_key(key))
    if found is None:
        raise NotFound(f"{key} is not retired")
    session.delete(found)
    session.flush()
    record_event(session=session, actor=actor, action="canaries.reinstated",
                 object_type="template", object_id=found.key, now=now, details={})


def retired(*, session: Session) -> list[RetiredTemplate]:
    return list(session.exec(select(RetiredTemplate).order_by(RetiredTemplate.retired_at.desc())).all())
