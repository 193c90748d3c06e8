"""The weekly injection: plant canaries and known-good controls in each active reviewer's queue.

Planted items are ordinary items assigned to one reviewer and due from a random time inside
their usual working hours (the queue core offers assigned, due items to that reviewer only,
interleaved with real work). Only the injections table knows they are planted
(VIGILANCE.md §1: artificial signals must look exactly like real ones; §6: 5 + 5 a week).
Safety: token_id is NULL and no approval record exists, so no agent and no webhook sees them.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.canaries.library import BUCKETS, Entry, Library, render_entry
from reviewq.canaries.mutators import APPROVAL_MUTATORS, OUTPUT_MUTATORS, NotApplicable, similar_value
from reviewq.canaries.render import make_faker
from reviewq.config import Settings
from reviewq.domain.audit import SYSTEM_ACTOR, record_event
from reviewq.domain.disputes import retired_keys
from reviewq.domain.working_hours import hour_weights, pick_times
from reviewq.models import (
    Decision,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    Item,
    ItemKind,
    ItemStatus,
    Outcome,
    User,
    new_public_id,
)

ACTIVE_DAYS = 14  # an active reviewer decided something in the last 14 days
SOURCE_DAYS = 14  # mutation sources: items approved in the last 14 days
SOURCE_TRIES = 12  # random sources tried before a mutation slot falls back to the library
SOURCE_POOL = 400  # most recent approved items considered as sources


@dataclass(frozen=True)
class Draft:
    """One planted item before it is written."""

    kind: InjectionKind
    source: InjectionSource
    bucket: str | None
    item_kind: str
    agent: str
    category: str
    payload: dict
    explanation: str
    library_entry_id: str | None = None
    source_item: Item | None = None
    mutator: str | None = None


def week_start_for(now: datetime, tz: ZoneInfo) -> datetime:
    """Monday 00:00 in the configured timezone of the week containing `now`."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=tz)


def active_reviewers(*, session: Session, now: datetime, names: list[str] | None = None) -> list[User]:
    recent = select(Decision.reviewer_id).where(Decision.decided_at >= now - timedelta(days=ACTIVE_DAYS))
    query = select(User).where(User.active.is_(True), User.id.in_(recent)).order_by(User.id)
    if names:
        query = query.where(User.name.in_(names))
    return list(session.exec(query).all())


def _not_planted():
    return ~select(Injection.id).where(Injection.item_id == Item.id).exists()


def category_mix(*, session: Session, now: datetime) -> dict[str, int]:
    """Real items per category over the last 14 days: the mix reviewers actually see."""
    rows = session.exec(
        select(Item.category, sa.func.count(Item.id))
        .where(Item.created_at >= now - timedelta(days=SOURCE_DAYS), _not_planted())
        .group_by(Item.category)
    ).all()
    return {category: count for category, count in rows}


def source_candidates(*, session: Session, reviewer_id: int, now: datetime) -> list[Item]:
    """Real items approved in the last 14 days, not decided by this reviewer (they would know it)
    and never used as a source for them. Uniform choice among them follows the live category mix."""
    decided_by_me = select(Decision.id).where(Decision.item_id == Item.id, Decision.reviewer_id == reviewer_id)
    used = select(Injection.source_item_id).where(
        Injection.reviewer_id == reviewer_id, Injection.source_item_id.is_not(None)
    )
    query = (
        select(Item)
        .where(
            Item.status == ItemStatus.DECIDED,
            Item.outcome == Outcome.APPROVE,
            Item.decided_at >= now - timedelta(days=SOURCE_DAYS),
            _not_planted(),
            ~decided_by_me.exists(),
            Item.id.not_in(used),
        )
        .order_by(Item.decided_at.desc(), Item.id.desc())
        .limit(SOURCE_POOL)
    )
    return list(session.exec(query).all())


def _used_entries(session: Session, reviewer_id: int) -> set[str]:
    rows = session.exec(
        select(Injection.library_entry_id).where(
            Injection.reviewer_id == reviewer_id, Injection.library_entry_id.is_not(None)
        )
    ).all()
    return set(rows)


def _weighted_entry(entries: list[Entry], mix: dict[str, int], rng: random.Random) -> Entry | None:
    if not entries:
        return None
    total = sum(mix.values()) or 1
    weights = [0.05 + mix.get(e.category, 0) / total for e in entries]
    return rng.choices(entries, weights=weights, k=1)[0]


def _library_draft(entry: Entry, faker) -> Draft:
    rendered = render_entry(entry, faker)
    return Draft(
        kind=InjectionKind.CONTROL if entry.is_control else InjectionKind.CANARY,
        source=InjectionSource.LIBRARY, bucket=entry.bucket, item_kind=entry.kind, agent=entry.agent,
        category=entry.category, payload=rendered.payload, explanation=rendered.explanation,
        library_entry_id=entry.id,
    )


def _mutation_draft(
    bucket: str, sources: list[Item], used: set[int], rng: random.Random, faker, retired: frozenset[str] = frozenset()
) -> Draft | None:
    pool = [s for s in sources if s.id not in used]
    for source in rng.sample(pool, min(SOURCE_TRIES, len(pool))):
        if source.kind == ItemKind.OUTPUT:
            mutators = [m for m in OUTPUT_MUTATORS if m.bucket == bucket]
        else:  # approvals break their envelope; prefer a mutator of the slot's bucket
            mutators = sorted(APPROVAL_MUTATORS, key=lambda m: (m.bucket != bucket, rng.random()))
        # An upheld dispute retired these (VIGILANCE.md §7).
        mutators = [m for m in mutators if f"mutator:{m.name}" not in retired]
        item = {"kind": source.kind.value, "agent": source.agent, "category": source.category,
                "payload": source.payload}
        for mutator in mutators:
            try:
                mutated, explanation = mutator.fn(item, rng, faker)
            except NotApplicable:
                continue
            used.add(source.id)
            return Draft(
                kind=InjectionKind.CANARY, source=InjectionSource.MUTATION, bucket=mutator.bucket,
                item_kind=source.kind.value, agent=source.agent, category=source.category,
                payload=mutated["payload"], explanation=explanation, source_item=source, mutator=mutator.name,
            )
    return None


def plan_reviewer(
    *, session: Session, reviewer: User, library: Library, settings: Settings, now: datetime,
    rng: random.Random, mix: dict[str, int],
) -> list[Draft]:
    """This week's canaries (stratified across buckets, library and mutation mixed) and controls."""
    faker = make_faker(rng)
    retired = frozenset(retired_keys(session=session))  # VIGILANCE.md §7: upheld disputes
    used_entries = _used_entries(session, reviewer.id) | {k.split(":", 1)[1] for k in retired
                                                          if k.startswith("library:")}
    sources = source_candidates(session=session, reviewer_id=reviewer.id, now=now)
    used_sources: set[int] = set()
    buckets = list(BUCKETS)
    rng.shuffle(buckets)
    drafts: list[Draft] = []
    mutation_first = rng.random() < 0.5
    for i in range(settings.canaries.per_reviewer_per_week):
        bucket = buckets[i % len(buckets)]
        draft = None
        if (i % 2 == 0) == mutation_first:
            draft = _mutation_draft(bucket, sources, used_sources, rng, faker, retired)
        if draft is None:
            fresh = [e for e in library.canaries if e.id not in used_entries]
            entry = _weighted_entry([e for e in fresh if e.bucket == bucket], mix, rng) or _weighted_entry(
                fresh, mix, rng
            )
            if entry is None:
                draft = _mutation_draft(bucket, sources, used_sources, rng, faker, retired)
            else:
                used_entries.add(entry.id)
                draft = _library_draft(entry, faker)
        if draft is not None:
            drafts.append(draft)
    for _ in range(settings.canaries.controls_per_reviewer_per_week):
        entry = _weighted_entry([e for e in library.controls if e.id not in used_entries], mix, rng)
        if entry is None:
            break
        used_entries.add(entry.id)
        drafts.append(_library_draft(entry, faker))
    rng.shuffle(drafts)
    return drafts


def _recent_trace_ids(session: Session, now: datetime) -> dict[str, list[str]]:
    rows = session.exec(
        select(Item.agent, Item.trace_id)
        .where(Item.created_at >= now - timedelta(days=SOURCE_DAYS), _not_planted())
        .order_by(Item.created_at.desc())
        .limit(500)
    ).all()
    out: dict[str, list[str]] = {}
    for agent, trace_id in rows:
        out.setdefault(agent, []).append(trace_id)
    return out


def _trace_id(draft: Draft, examples: dict[str, list[str]], rng: random.Random, faker) -> str:
    """A fresh trace id in the same format as the agent's real ones."""
    model = draft.source_item.trace_id if draft.source_item else None
    if model is None and examples.get(draft.agent):
        model = rng.choice(examples[draft.agent])
    if model:
        try:
            return str(similar_value(model, rng, faker))[:128]
        except NotApplicable:
            pass
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _wait(draft: Draft, rng: random.Random) -> timedelta:
    """How long the item seems to have waited before being due: the source's own wait, jittered."""
    if draft.source_item is not None and draft.source_item.decided_at is not None:
        seconds = (draft.source_item.decided_at - draft.source_item.created_at).total_seconds()
        seconds = min(max(seconds, 30.0), 7200.0)
    else:
        seconds = rng.uniform(60, 1800)
    return timedelta(seconds=seconds * rng.uniform(0.8, 1.2))


def write_draft(
    *, session: Session, draft: Draft, reviewer: User, due: datetime, week_start: datetime,
    settings: Settings, now: datetime, rng: random.Random, faker, examples: dict[str, list[str]],
) -> Injection:
    created = min(due, due - _wait(draft, rng))
    deadline = None
    required = 1
    if draft.item_kind == ItemKind.APPROVAL.value:
        deadline = due + timedelta(seconds=settings.approvals.default_timeout_s)
        if draft.payload.get("irreversible") is True and settings.queue.two_person_rule:
            required = 2  # as real irreversible approvals; scoring closes it after the first verdict
    item = Item(
        kind=ItemKind(draft.item_kind), trace_id=_trace_id(draft, examples, rng, faker), agent=draft.agent,
        category=draft.category, payload=draft.payload,
        priority=draft.source_item.priority if draft.source_item else 0,
        deadline=deadline, not_before=due, assigned_to=reviewer.id, required_approvals=required,
        token_id=None, public_id=new_public_id("itm"), status=ItemStatus.QUEUED,
        created_at=created, updated_at=created,
    )
    session.add(item)
    session.flush()
    injection = Injection(
        item_id=item.id, reviewer_id=reviewer.id, kind=draft.kind, source=draft.source, bucket=draft.bucket,
        library_entry_id=draft.library_entry_id,
        source_item_id=draft.source_item.id if draft.source_item else None,
        explanation=draft.explanation, week_start=week_start, scheduled_for=due, created_at=now,
        template=draft.mutator or draft.library_entry_id,
    )
    session.add(injection)
    return injection


def planted_this_week(*, session: Session, reviewer_id: int, week_start: datetime) -> int:
    return session.exec(
        select(sa.func.count(Injection.id)).where(
            Injection.reviewer_id == reviewer_id, Injection.week_start == week_start
        )
    ).one()


def inject_week(
    *, session: Session, library: Library, settings: Settings, now: datetime, rng: random.Random,
    reviewer_names: list[str] | None = None, due_now: bool = False,
) -> list[Injection]:
    """Plant this week's canaries and controls for every active reviewer (or the named ones).

    A reviewer already planted for this week is skipped, so a second run (a restarted or
    duplicated scheduler) plants nothing twice. `due_now` (`reviewq canaries inject --now`)
    plants again regardless and spreads the items over the next hour instead of the week.
    """
    tz = ZoneInfo(settings.canaries.timezone)
    week_start = week_start_for(now, tz)
    week_end = week_start + timedelta(days=7)
    mix = category_mix(session=session, now=now)
    examples = _recent_trace_ids(session, now)
    planted: list[Injection] = []
    for reviewer in active_reviewers(session=session, now=now, names=reviewer_names):
        if not due_now and planted_this_week(session=session, reviewer_id=reviewer.id, week_start=week_start):
            continue
        drafts = plan_reviewer(
            session=session, reviewer=reviewer, library=library, settings=settings, now=now, rng=rng, mix=mix
        )
        if not drafts:
            continue
        if due_now:
            times = sorted(now + timedelta(seconds=rng.uniform(0, 3600)) for _ in drafts)
        else:
            weights = hour_weights(session=session, reviewer_id=reviewer.id, now=now, tz=tz)
            times = pick_times(weights=weights, week_start=week_start, start=now, end=week_end, n=len(drafts), rng=rng)
        faker = make_faker(rng)
        for draft, due in zip(drafts, times, strict=True):
            planted.append(write_draft(
                session=session, draft=draft, reviewer=reviewer, due=due, week_start=week_start,
                settings=settings, now=now, rng=rng, faker=faker, examples=examples,
            ))
        record_event(
            session=session, actor=SYSTEM_ACTOR, action="canaries.injected", object_type="user",
            object_id=reviewer.name, now=now,
            details={"week_start": week_start.isoformat(), "count": len(drafts)},
        )
    session.flush()
    return planted


def expire_unseen(*, session: Session, now: datetime) -> int:
    """Planted items not shown by the week's end (or past an approval's deadline) expire unseen.

    They count neither as caught nor as missed (outcome EXPIRED). Items a reviewer holds right
    now are left to be decided.
    """
    from reviewq.domain.queue import set_status  # queue -> effects -> canary_scoring; keep it lazy

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
