"""Four weeks of simulated history, made through the real domain functions.

Agents submit through the sampling and approval code the API uses; the real weekly job
plants canaries; reviewers claim and decide through the queue core, each drawing verdicts
from their profile. The dashboard then has to recover the story from the data alone.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from faker import Faker
from sqlmodel import Session, select

from reviewq.config import Settings
from reviewq.db import Database
from reviewq.demo.oncall import OnCallDesk
from reviewq.demo.profiles import ADMIN_NAME, DEMO_PASSWORD, LEAD_NAME, PROFILES, ReviewerProfile, dwell_sample
from reviewq.demo.traffic import AGENT_WEIGHTS, AGENTS, agent_output, approval_request, trace_id
from reviewq.domain import projection
from reviewq.domain.approvals import expire_due, request_approval
from reviewq.domain.canary_scoring import injection_for_item
from reviewq.domain.claims import sweep_expired_leases
from reviewq.domain.decide import decide
from reviewq.domain.errors import DeadlinePassed
from reviewq.domain.injection import expire_unseen, plan_week, week_start_for
from reviewq.domain.notifications import scan
from reviewq.domain.sampling import is_sampled, rate_for, submit_outputs
from reviewq.domain.tokens import create_token
from reviewq.domain.users import create_user
from reviewq.models import (
    ApiToken,
    DecisionCreate,
    Injection,
    InjectionKind,
    ItemKind,
    ReasonBucket,
    Role,
    User,
    UserCreate,
    Verdict,
)
from reviewq.models.approvals import ApprovalCreate
from reviewq.models.outputs import OutputCreate
from reviewq.notify.sender import deliver_notifications

# Sampled outputs reaching the queue per day: enough to keep sittings busy, few enough to be quick.
QUEUED_PER_WEEKDAY = 210
QUEUED_PER_WEEKEND_DAY = 40
APPROVALS_PER_DAY = 14
# Real items a reviewer rejects anyway (real agents are not perfect either).
REAL_REJECT_RATE = 0.03
COMMIT_EVERY = 300
# One in this many unsampled outputs is generated and sent (the rest are skipped for speed).
UNSAMPLED_KEPT = 4
REAL_BUCKETS = [b for b in ReasonBucket if b not in (ReasonBucket.OTHER,)]


@dataclass
class Cast:
    reviewers: dict[str, User]
    profiles: dict[str, ReviewerProfile]
    tokens: dict[str, ApiToken]
    lead: User | None = None


@dataclass(order=True)
class _Turn:
    at: datetime
    seq: int
    name: str = field(compare=False)
    session_end: datetime = field(compare=False)
    session_active_ms: int = field(compare=False, default=0)


def create_cast(*, session: Session, now: datetime) -> Cast:
    """The lead, the admin, eight profiled reviewers and one token per demo agent."""
    staff = {name: create_user(session=session, data=UserCreate(name=name, role=role, password=DEMO_PASSWORD),
                               now=now, actor="system:demo")
             for name, role in ((LEAD_NAME, Role.LEAD), (ADMIN_NAME, Role.ADMIN))}
    reviewers = {
        p.name: create_user(session=session, data=UserCreate(name=p.name, role=Role.REVIEWER, password=DEMO_PASSWORD),
                            now=now, actor="system:demo")
        for p in PROFILES
    }
    tokens = {
        a.name: create_token(session=session, agent=a.name,
                             scopes=("items:write", "approvals:write", "approvals:read"),
                             now=now, actor="system:demo").token
        for a in AGENTS
    }
    return Cast(reviewers=reviewers, profiles={p.name: p for p in PROFILES}, tokens=tokens, lead=staff[LEAD_NAME])


def _submit_day_of_outputs(session: Session, cast: Cast, settings: Settings, day_start: datetime,
                           rng: random.Random, faker: Faker) -> None:
    """The night's and morning's agent traffic, arriving before the reviewers start.

    Agents call for every output; most of the ones sampling would drop are skipped before their
    body is generated (the same deterministic test the API applies), which keeps the demo quick;
    one in UNSAMPLED_KEPT is sent anyway, so the reservoir of unsampled outputs fills as in production.
    """
    target = QUEUED_PER_WEEKDAY if day_start.weekday() < 5 else QUEUED_PER_WEEKEND_DAY
    by_agent: dict[str, list[OutputCreate]] = {}
    attempts = 0
    while sum(map(len, by_agent.values())) < target and attempts < target * 40:
        attempts += 1
        agent = rng.choices(AGENTS, weights=AGENT_WEIGHTS)[0]
        tid = trace_id(rng)
        if not is_sampled(agent.name, tid, rate_for(agent.category, settings.sampling)) \
                and rng.random() >= 1 / UNSAMPLED_KEPT:
            continue
        body = agent_output(agent, rng=rng, faker=faker, today=day_start.date())
        body["trace_id"] = tid
        by_agent.setdefault(agent.name, []).append(OutputCreate(**body))
    for name, outputs in by_agent.items():
        # Spread arrival over the small hours so the queue has a realistic age profile.
        for chunk_start in range(0, len(outputs), 50):
            at = day_start + timedelta(minutes=rng.uniform(0, 8 * 60))
            submit_outputs(session=session, token=cast.tokens[name], outputs=outputs[chunk_start:chunk_start + 50],
                           sampling=settings.sampling, now=at, canaries=settings.canaries, rng=rng)


def _approval(session: Session, cast: Cast, settings: Settings, at: datetime, rng: random.Random,
              faker: Faker, *, timeout_s: int) -> None:
    body = approval_request(rng=rng, faker=faker, timeout_s=timeout_s, today=at.date())
    token = cast.tokens[body["actor"]]
    request_approval(session=session, token=token, data=ApprovalCreate(**body),
                     idempotency_key=f"demo-{body['trace_id']}", settings=settings, now=at)


def _verdict(profile: ReviewerProfile, injection: Injection | None, kind: ItemKind, minutes: float,
             week_index: int, rng: random.Random) -> tuple[Verdict, ReasonBucket | None]:
    if injection is not None and injection.kind == InjectionKind.CANARY:
        if rng.random() < profile.p_catch(minutes_into_session=minutes, week_index=week_index):
            diagnosed = injection.bucket in {b.value for b in ReasonBucket} and rng.random() < 0.75
            return Verdict.REJECT, ReasonBucket(injection.bucket) if diagnosed else rng.choice(REAL_BUCKETS)
        return Verdict.APPROVE, None
    false_alarm = profile.false_alarm_rate if injection is not None else max(REAL_REJECT_RATE,
                                                                               profile.false_alarm_rate / 2)
    if kind == ItemKind.APPROVAL:
        false_alarm = min(false_alarm, 0.1)
    if rng.random() < false_alarm:
        return Verdict.REJECT, rng.choice(REAL_BUCKETS)
    return Verdict.APPROVE, None


def _sessions_for_day(profile: ReviewerProfile, day: datetime, rng: random.Random) -> list[tuple[datetime, datetime]]:
    """One or two sittings starting around the reviewer's usual hour."""
    if day.weekday() not in profile.days:
        return []
    start = day.replace(hour=profile.start_hour) + timedelta(minutes=rng.gauss(0, 20))
    sittings = []
    for _ in range(1 if rng.random() < 0.7 else 2):
        length = timedelta(minutes=rng.uniform(*profile.session_minutes))
        sittings.append((start, start + length))
        start = start + length + timedelta(minutes=rng.uniform(25, 90))
    return sittings


# Items the lead spot-checks each weekday: what they approve is confirmed good, the source of
# known-good controls re-served to reviewers (DESIGN.md "Canaries").
LEAD_SPOT_CHECKS = 12


def _lead_spot_check(session: Session, cast: Cast, settings: Settings, day: datetime, rng: random.Random) -> None:
    at = day + timedelta(hours=8, minutes=rng.uniform(0, 30))
    for _ in range(LEAD_SPOT_CHECKS):
        item = projection.claim(session=session, reviewer_id=cast.lead.id, now=at, settings=settings, rng=rng)
        if item is None:
            return
        dwell = rng.uniform(20, 60)
        decide(session=session, public_id=item.public_id, reviewer=cast.lead, settings=settings,
               now=at + timedelta(seconds=dwell), data=DecisionCreate(verdict=Verdict.APPROVE,
                                                                       active_ms=int(dwell * 1000)))
        at += timedelta(seconds=dwell + rng.uniform(1, 3))


def _simulate_day(db: Database, cast: Cast, settings: Settings, day: datetime, week_index: int,
                  rng: random.Random, faker: Faker, stats: dict,
                  desk: OnCallDesk | None = None) -> None:
    with db.session_scope() as session:
        _submit_day_of_outputs(session, cast, settings, day, rng, faker)
    # Approvals arrive during the day, each only once its time has come.
    arrivals = sorted(day + timedelta(hours=rng.uniform(8, 17))
                      for _ in range(APPROVALS_PER_DAY if day.weekday() < 5 else 3))
    turns: list[_Turn] = []
    seq = 0
    sittings: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, profile in cast.profiles.items():
        for start, end in _sessions_for_day(profile, day, rng):
            heapq.heappush(turns, _Turn(start, seq, name, end))
            sittings.setdefault(name, []).append((start, end))
            seq += 1
    session = db.session()
    # The on-call desk (notifications, escalations, answers) plays its events in time order too.
    advance = (lambda until: desk.advance(session, until)) if desk else (lambda until: None)
    if desk:
        desk.begin_day(sittings)
    try:
        if cast.lead is not None and day.weekday() < 5:
            _lead_spot_check(session, cast, settings, day, rng)  # before the reviewers start
        made = 0
        while turns:
            turn = heapq.heappop(turns)
            while arrivals and arrivals[0] <= turn.at:
                at = arrivals.pop(0)
                advance(at)
                _approval(session, cast, settings, at, rng, faker, timeout_s=rng.choice([3600, 7200, 14400]))
                if desk:
                    desk.arrival(at)
            advance(turn.at)
            if turn.at >= turn.session_end:
                continue
            reviewer = cast.reviewers[turn.name]
            profile = cast.profiles[turn.name]
            item = projection.claim(session=session, reviewer_id=reviewer.id, now=turn.at, settings=settings,
                                    rng=rng)
            if item is None:
                continue  # the queue ran dry: this sitting ends
            active_s = dwell_sample(profile, rng)
            shown = turn.at
            decided = shown + timedelta(seconds=active_s + rng.uniform(0.3, 2.5))
            minutes = (turn.session_active_ms + active_s * 1000) / 60000
            injection = injection_for_item(session=session, item_id=item.id)  # the simulation's ground truth
            verdict, reason = _verdict(profile, injection, item.kind, minutes, week_index, rng)
            try:
                decide(session=session, public_id=item.public_id, reviewer=reviewer,
                       data=DecisionCreate(verdict=verdict, reason=reason, active_ms=int(active_s * 1000)),
                       now=decided, settings=settings)
            except DeadlinePassed:
                pass  # too slow for this approval's deadline: it expired (fail closed), as on the real page
            else:
                stats["decisions"] += 1
                made += 1
            turn.session_active_ms += int(active_s * 1000)
            turn.at = decided + timedelta(seconds=rng.uniform(0.2, 1.5))
            heapq.heappush(turns, turn)
            if made % COMMIT_EVERY == 0:
                session.commit()
        for at in arrivals:
            advance(at)
            _approval(session, cast, settings, at, rng, faker, timeout_s=rng.choice([3600, 7200, 14400]))
            if desk:
                desk.arrival(at)
        evening = day + timedelta(hours=23, minutes=59)
        advance(evening)
        expire_due(session=session, now=evening, settings=settings)
        sweep_expired_leases(session=session, now=evening)
        session.commit()
    finally:
        session.close()


def simulate_history(*, database: Database, settings: Settings, now: datetime, seed: int, days: int = 28,
                     progress=lambda message: None, answer_escalations: bool = True) -> dict:
    """`days` of history ending yesterday; the real weekly job plants canaries every Monday.

    With [notify] on, the on-call desk announces approvals, escalates them, and (unless
    `answer_escalations` is off) has an available reviewer answer most escalations.
    """
    rng = random.Random(seed)
    faker = Faker()
    faker.seed_instance(seed)
    tz = ZoneInfo(settings.canaries.timezone)
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    # Start on the Thursday before the first Monday, so its weekly run finds active reviewers.
    first_monday = week_start_for(today - timedelta(days=days - 6), tz)
    first_day = first_monday - timedelta(days=4)
    stats = {"decisions": 0, "injected": 0}
    with database.session_scope() as session:
        cast = create_cast(session=session, now=first_day)
    desk_rng = random.Random(seed + 2)

    def verdict_for(session: Session, name: str, item, at: datetime):
        week = max(0, (at - first_monday).days // 7)
        injection = injection_for_item(session=session, item_id=item.id)  # the simulation's ground truth
        return _verdict(cast.profiles[name], injection, item.kind, 0.0, week, desk_rng)

    desk = OnCallDesk(settings=settings, reviewers=cast.reviewers, profiles=cast.profiles, rng=desk_rng,
                      verdict_for=verdict_for, answer_escalations=answer_escalations) \
        if settings.notify.enabled else None
    day = first_day
    while day < today:
        week_index = max(0, (day - first_monday).days // 7)
        if day.weekday() == 0:
            with database.session_scope() as session:
                monday_run = day.replace(hour=6)
                expire_unseen(session=session, now=monday_run)
                budgets = plan_week(session=session, settings=settings, now=monday_run, rng=rng)
            progress(f"week of {day:%d %b}: canary budgets drawn for {len(budgets)} reviewers")
        _simulate_day(database, cast, settings, day, week_index, rng, faker, stats, desk)
        if desk:
            deliver_notifications(database, settings, day + timedelta(hours=23, minutes=59), limit=10_000)
        day += timedelta(days=1)
    with database.session_scope() as session:
        expire_due(session=session, now=now, settings=settings)
        expire_unseen(session=session, now=now)
        stats["injected"] = session.exec(select(sa.func.count(Injection.id))).one()
        if desk:
            desk.advance(session, now)
            scan(session=session, settings=settings, now=now)
    if desk:
        deliver_notifications(database, settings, now, limit=10_000)
        stats.update(desk.stats)
    return {"cast": cast, **stats}
