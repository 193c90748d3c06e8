"""A reviewer's canary and control probability for the next claim: the weekly budget spent over active time.

Like TIP's "one threat per N bags, ±30%": the weekly job (or the first claim of the week) draws
each reviewer's budget with jitter, and every claim carries the same probability
    budget / claims expected this week (the reviewer's recent pace)
so planted items spread over the reviewer's working time exactly as their claims do: over the
days of the week, the hours of the day and the minutes into session like real work (VIGILANCE.md
§4 "placement"). A rate that ran down as the budget was spent would bunch planted items early in
the week whenever the pace was underestimated; instead the budget is an expectation, with a
hard stop at twice the budget. The rate is also a control
surface: a lead's boost replaces it for a while, and a new reviewer's first session is an
onboarding drill (VIGILANCE.md §1, Bahner, Hueper & Manzey 2008).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.domain.errors import ValidationFailed
from reviewq.lean_sql import Prebuilt
from reviewq.models import CanaryBudget, CanaryRateBoost, Decision, Injection, InjectionKind, ReviewSession

DEFAULT_EXPECTED_CLAIMS = 150  # a reviewer with no history yet: a plausible week of claims
MIN_EXPECTED_CLAIMS = 20
# Never more than this many times the week's budget, however much more than usual a reviewer works.
HARD_STOP = 2


@dataclass(frozen=True)
class Rate:
    canary: float
    control: float
    drill: bool  # planted items are revealed at once with their explanation
    week_start: datetime
    # Below the week's budget (not the hard stop) at the plain budget rate: a plant of the other
    # kind that has no source may be of this kind instead (projection.PlantPlan.instead). Never
    # under a boost or a drill, whose canary draws are far above the budget rate.
    canary_room: bool = False
    control_room: bool = False


def week_start_for(now: datetime, tz: ZoneInfo) -> datetime:
    """Monday 00:00 in the configured timezone of the week containing `now`."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz)


def jittered(mean: int, jitter: float, rng: random.Random) -> int:
    """A whole number around `mean`, ±jitter, rounded stochastically so the mean is kept."""
    value = mean * rng.uniform(1 - jitter, 1 + jitter)
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


def expected_claims(*, session: Session, reviewer_id: int, now: datetime) -> int:
    """The reviewer's recent weekly pace: decisions in the last 28 days per week they worked."""
    rows = session.exec(
        select(sa.func.count(Decision.id), sa.func.min(Decision.decided_at)).where(
            Decision.reviewer_id == reviewer_id, Decision.decided_at >= now - timedelta(days=28),
            Decision.decided_at < now,
        )
    ).one()
    count, first = rows
    if not count:
        return DEFAULT_EXPECTED_CLAIMS
    weeks = min(4.0, max(1.0, (now - first).total_seconds() / (7 * 86400)))
    return max(MIN_EXPECTED_CLAIMS, round(count / weeks))


def budget_for(
    *, session: Session, reviewer_id: int, now: datetime, settings: Settings, rng: random.Random,
    week_start: datetime | None = None,
) -> CanaryBudget:
    """This week's budget, drawn now if the weekly job has not drawn it yet."""
    week_start = week_start or week_start_for(now, ZoneInfo(settings.canaries.timezone))
    query = select(CanaryBudget).where(CanaryBudget.reviewer_id == reviewer_id, CanaryBudget.week_start == week_start)
    found = session.exec(query).first()
    if found is not None:
        return found
    c = settings.canaries
    budget = CanaryBudget(
        reviewer_id=reviewer_id, week_start=week_start,
        canaries=jittered(c.per_reviewer_per_week, c.budget_jitter, rng),
        controls=jittered(c.controls_per_reviewer_per_week, c.budget_jitter, rng),
        expected_claims=expected_claims(session=session, reviewer_id=reviewer_id, now=now), created_at=now,
    )
    try:
        with session.begin_nested():  # another worker may draw it at the same moment
            session.add(budget)
            session.flush()
    except IntegrityError:
        return session.exec(query).one()
    return budget


def _first_session(sessions: int, last_activity: datetime | None, now: datetime, gap_minutes: int) -> bool:
    """No review session yet, or only the one still running: a new reviewer's first sitting."""
    return sessions == 0 or (sessions == 1 and now - last_activity < timedelta(minutes=gap_minutes))


def _claim_state_query() -> sa.Select:
    """What a claim's rate needs, in one statement built once (every claim runs it): the week's
    budget (NULL until drawn), planted counts by kind (drills left out), the newest active boost,
    and whether the reviewer is in their first session. Five queries' worth, one round trip."""
    reviewer, week, now = sa.bindparam("reviewer_id"), sa.bindparam("week_start"), sa.bindparam("now")

    def spent(kind: InjectionKind):
        return select(sa.func.count(Injection.id)).where(
            Injection.reviewer_id == reviewer, Injection.week_start == week, Injection.drill.is_(False),
            Injection.kind == kind,
        ).scalar_subquery()

    def boost(column):
        return select(column).where(
            CanaryRateBoost.reviewer_id == reviewer, CanaryRateBoost.starts_at <= now, CanaryRateBoost.ends_at > now,
        ).order_by(CanaryRateBoost.created_at.desc(), CanaryRateBoost.id.desc()).limit(1).scalar_subquery()

    def budget(column):
        return select(column).where(CanaryBudget.reviewer_id == reviewer, CanaryBudget.week_start == week) \
            .scalar_subquery()

    own_sessions = select(ReviewSession.id).where(ReviewSession.reviewer_id == reviewer).limit(2).subquery()
    return select(
        budget(CanaryBudget.canaries).label("budget_canaries"),
        budget(CanaryBudget.controls).label("budget_controls"),
        budget(CanaryBudget.expected_claims).label("expected_claims"),
        spent(InjectionKind.CANARY).label("canaries"),
        spent(InjectionKind.CONTROL).label("controls"),
        boost(CanaryRateBoost.probability).label("boost_probability"),
        boost(CanaryRateBoost.drill).label("boost_drill"),
        select(sa.func.count()).select_from(own_sessions).scalar_subquery().label("sessions"),
        select(sa.func.max(ReviewSession.last_activity_at)).where(ReviewSession.reviewer_id == reviewer)
        .scalar_subquery().label("last_activity"),
    )


_CLAIM_STATE = Prebuilt(_claim_state_query())


def spend_probability(budget: int, spent: int, expected: int, cap: float) -> float:
    """The week's budget over the week's expected claims, the same for every claim; 0 past the hard stop."""
    if budget <= 0 or spent >= HARD_STOP * budget:
        return 0.0
    return min(cap, budget / max(expected, 1))


def current_rate(*, session: Session, reviewer_id: int, now: datetime, settings: Settings,
                 rng: random.Random) -> Rate:
    c = settings.canaries
    week_start = week_start_for(now, ZoneInfo(c.timezone))
    params = {"reviewer_id": reviewer_id, "week_start": week_start, "now": now}
    state = _CLAIM_STATE.run(session, params).one()
    budget_canaries, budget_controls, expected = state.budget_canaries, state.budget_controls, state.expected_claims
    if budget_canaries is None:  # the week's first claim, before the weekly job: draw the budget now
        drawn = budget_for(session=session, reviewer_id=reviewer_id, now=now, settings=settings, rng=rng,
                           week_start=week_start)
        budget_canaries, budget_controls, expected = drawn.canaries, drawn.controls, drawn.expected_claims
    canary = spend_probability(budget_canaries, state.canaries, expected, c.max_probability)
    control = spend_probability(budget_controls, state.controls, expected, c.max_probability)
    if state.boost_probability is not None:
        return Rate(canary=state.boost_probability, control=control, drill=bool(state.boost_drill),
                    week_start=week_start)
    if c.onboarding_drill and c.drill_probability > 0 and _first_session(
        state.sessions, state.last_activity, now, settings.vigilance.session_gap_minutes
    ):
        return Rate(canary=c.drill_probability, control=control, drill=True, week_start=week_start)
    return Rate(canary=canary, control=control, drill=False, week_start=week_start,
                canary_room=canary > 0 and state.canaries < budget_canaries,
                control_room=control > 0 and state.controls < budget_controls)


def boost_rate(
    *, session: Session, reviewer_id: int, probability: float, hours: float, drill: bool, reason: str,
    created_by: str, now: datetime,
) -> CanaryRateBoost:
    """A lead raises one reviewer's canary probability per claim for `hours`."""
    if not 0 < probability <= 0.5:
        raise ValidationFailed("probability must be above 0 and at most 0.5", field="probability")
    if not 0 < hours <= 24 * 14:
        raise ValidationFailed("hours must be above 0 and at most 336 (two weeks)", field="hours")
    boost = CanaryRateBoost(
        reviewer_id=reviewer_id, probability=probability, starts_at=now, ends_at=now + timedelta(hours=hours),
        drill=drill, reason=reason[:500], created_by=created_by, created_at=now,
    )
    session.add(boost)
    session.flush()
    return boost
