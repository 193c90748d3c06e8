"""The weekly canary job: each active reviewer's budget for the week, and the expiry of unseen items.

Planting itself happens at claim time (projection.py): the budget drawn here, jittered like TIP's
"1 in N bags ±30%", is spent over the reviewer's claims (canary_rate.py), so planted items arrive
with real work. A reviewer already budgeted for the week keeps their budget, so a second run (a
restarted or duplicated scheduler) changes nothing; `top_up` (`reviewq canaries inject --now`)
adds a fresh draw to this week's. Only the injections table knows which items were planted
(VIGILANCE.md §1: artificial signals must look exactly like real ones; §6: 5 + 5 a week).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.audit import SYSTEM_ACTOR, record_event
from reviewq.domain.canary_rate import budget_for, jittered, week_start_for
from reviewq.domain.transitions import set_status
from reviewq.models import CanaryBudget, Decision, Injection, InjectionOutcome, Item, ItemStatus, Role, User

__all__ = ["ACTIVE_DAYS", "active_reviewers", "expire_unseen", "plan_week", "week_start_for"]

ACTIVE_DAYS = 14  # an active reviewer decided something in the last 14 days


def active_reviewers(*, session: Session, now: datetime, names: list[str] | None = None) -> list[User]:
    """Reviewers (only reviewers are planted on) who decided something lately, or the named ones."""
    recent = select(Decision.reviewer_id).where(Decision.decided_at >= now - timedelta(days=ACTIVE_DAYS))
    query = select(User).where(User.active.is_(True), User.role == Role.REVIEWER)
    query = query.where(User.name.in_(names)) if names else query.where(User.id.in_(recent))
    query = query.order_by(User.id)
    return list(session.exec(query).all())


def plan_week(
    *, session: Session, settings: Settings, now: datetime, rng: random.Random,
    reviewer_names: list[str] | None = None, top_up: bool = False,
) -> list[CanaryBudget]:
    """Draw this week's budget for every active reviewer (or the named ones); projection spends it.

    `top_up` adds another jittered week's worth to budgets already drawn (a lead wanting more
    canaries now; a standing raise is a rate boost, canary_rate.boost_rate).
    """
    week_start = week_start_for(now, ZoneInfo(settings.canaries.timezone))
    budgets = []
    for reviewer in active_reviewers(session=session, now=now, names=reviewer_names):
        existing = session.exec(select(CanaryBudget).where(
            CanaryBudget.reviewer_id == reviewer.id, CanaryBudget.week_start == week_start)).first()
        budget = budget_for(session=session, reviewer_id=reviewer.id, now=now, settings=settings, rng=rng,
                            week_start=week_start)
        if existing is not None and not top_up:
            continue
        if existing is not None:
            c = settings.canaries
            budget.canaries += jittered(c.per_reviewer_per_week, c.budget_jitter, rng)
            budget.controls += jittered(c.controls_per_reviewer_per_week, c.budget_jitter, rng)
            session.add(budget)
        budgets.append(budget)
        record_event(
            session=session, actor=SYSTEM_ACTOR, action="canaries.budgeted", object_type="user",
            object_id=reviewer.name, now=now,
            details={"week_start": week_start.isoformat(), "canaries": budget.canaries, "controls": budget.controls,
                     "expected_claims": budget.expected_claims},
        )
    session.flush()
    return budgets


def expire_unseen(*, session: Session, now: datetime) -> int:
    """Planted items not decided by the week's end (or past an approval's deadline) expire unseen.

    They count neither as caught nor as missed (outcome EXPIRED). Items a reviewer holds right
    now are left to be decided. (A planted item is leased when made; it waits only if skipped.)
    """
    rows = session.exec(
        select(Injection, Item)
        .join(Item, Item.id == Injection.item_id)
        .where(Injection.outcome == InjectionOutcome.PENDING, Item.status != ItemStatus.LEASED)
    ).all()
    count = 0
    for injection, item in rows:
        over = injection.week_start + timedelta(days=7) <= now
        late = item.deadline is not None and item.deadline <= now
        closed = item.status in (ItemStatus.EXPIRED, ItemStatus.CANCELLED, ItemStatus.DECIDED)
        if not (over or late or closed):
            continue
        if item.status == ItemStatus.QUEUED:
            set_status(session=session, item=item, status=ItemStatus.EXPIRED, now=now)
        injection.outcome = InjectionOutcome.EXPIRED
        session.add(injection)
        count += 1
    session.flush()
    return count
