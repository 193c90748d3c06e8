"""Seeding dashboard data through the real queue: enqueue, claim, decide, with planted items.

Planted items get an Injection row before they are claimed, so the canary engineer's scoring
(inside decide) fills outcome, decided_at and minutes into session, as in production.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import Session

from reviewq.config import Settings
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import (
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionSource,
    ReasonBucket,
    User,
    Verdict,
)
from tests.factories import output_item

BUCKETS = ("hallucinated_fact", "schema_violation", "wrong_tool_call")


def week_start_of(at: datetime) -> datetime:
    return (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def plant(session: Session, reviewer: User, kind: InjectionKind, *, now: datetime,
          bucket: str | None = None, category: str = "customer_support", drill: bool = False) -> Injection:
    """An item assigned to the reviewer and its injection row, as the weekly injector makes them."""
    item = enqueue(session=session, data=output_item(assigned_to=reviewer.id, category=category), now=now).item
    injection = Injection(
        item_id=item.id, reviewer_id=reviewer.id, kind=kind, source=InjectionSource.LIBRARY,
        bucket=bucket if kind == InjectionKind.CANARY else None,
        library_entry_id=f"test-{uuid.uuid4().hex}", explanation=f"planted {bucket or 'control'}",
        week_start=week_start_of(now), scheduled_for=now, created_at=now, drill=drill,
    )
    session.add(injection)
    session.flush()
    return injection


def review_one(session: Session, reviewer: User, *, verdict: Verdict, now: datetime, active_s: float,
               settings: Settings, reason: ReasonBucket | None = None, kind: InjectionKind | None = None,
               bucket: str | None = None, category: str = "customer_support", drill: bool = False):
    """Put one item (real, or planted if `kind`) in front of the reviewer, claim it at `now`
    and decide it `active_s` seconds later. Returns the decision."""
    if kind is None:
        enqueue(session=session, data=output_item(category=category), now=now)
    else:
        plant(session, reviewer, kind, now=now, bucket=bucket, category=category, drill=drill)
    item = claim_next(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=3600)
    assert item is not None
    if verdict == Verdict.REJECT and reason is None:
        reason = ReasonBucket(bucket) if bucket else ReasonBucket.OTHER
    result = decide(
        session=session, public_id=item.public_id, reviewer=reviewer,
        data=DecisionCreate(verdict=verdict, reason=reason, active_ms=int(active_s * 1000)),
        now=now + timedelta(seconds=active_s), settings=settings,
    )
    return result.decision
