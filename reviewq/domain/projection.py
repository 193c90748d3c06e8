"""Projection (the main canary source): at claim time, a planted copy stands in for the real item.

Like airport TIP projecting a threat onto a real bag. When a reviewer claims the next real item,
with their current probability (canary_rate.py) they are served instead a planted copy made from
a source they have never seen and will never be served (projection_sources.py): a canary (one
fault planted by a generic mutator, with values from the deployment's own data) or a known-good
control (re-served unchanged). The real item goes straight back to the queue, unseen, so no real
work is lost, and planted items are spent only while real work is flowing: an empty queue never
serves one. The copy takes the served item's place, agent, category, kind and created time (sources
of the served item's own batch are preferred, so that is the source's created time too: agents
submit in batches, and a planted item must share its batch's timestamp like real ones do), and a
trace id of the source's format; an approval keeps the served approval's created time and
deadline, so deadline = created + timeout_s and category = intent hold as for real ones.
Only reviewers are planted on: a lead's approvals are what confirm items as known-good controls.
Safety: the copy has no token and no approval record, so no agent, API read or webhook sees it.
"""

from __future__ import annotations

import functools
import random
import re
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, select

from reviewq.canaries.bank import Bank
from reviewq.canaries.binding import entries_for_slot
from reviewq.canaries.library import Library, LibraryError, load_library, render_entry
from reviewq.canaries.mutators import NotApplicable, mutate
from reviewq.canaries.render import make_faker
from reviewq.config import Settings
from reviewq.domain import projection_sources as sources
from reviewq.domain.canary_rate import Rate, current_rate
from reviewq.domain.canary_scoring import may_be_planted
from reviewq.domain.claims import claim_next, release
from reviewq.domain.disputes import retired_keys, retired_library_entries, retired_mutators
from reviewq.domain.projection_bank import NotCached, bank_for, slot_for
from reviewq.domain.projection_warmer import note_served
from reviewq.lean_sql import Prebuilt, column_values, stored
from reviewq.models import (
    Injection,
    InjectionKind,
    InjectionSource,
    Item,
    ItemKind,
    ItemStatus,
    Role,
    User,
    new_public_id,
)

REPLAY_EXPLANATION = ("A known-good item: other reviewers (or a lead) approved it before, and it was served "
                      "to you again to measure false alarms. The right verdict was approve.")


@dataclass(frozen=True)
class Planted:
    """A planted item before it is written."""

    kind: InjectionKind
    source: InjectionSource
    payload: dict
    explanation: str
    bucket: str | None = None
    template: str | None = None
    origin: sources.Source | None = None
    original_payload: dict | None = None
    library_entry_id: str | None = None


@functools.lru_cache(maxsize=4)
def _library_at(path: str, mtime: float) -> Library | None:
    try:
        return load_library(Path(path))
    except LibraryError:
        return None  # a broken library only loses the fill-ins; `reviewq canaries validate` says why


def library_for(settings: Settings) -> Library | None:
    path = settings.canary_library_path
    try:
        mtime = max((p.stat().st_mtime for p in path.glob("*.toml")), default=0.0)
    except OSError:
        return None
    return _library_at(str(path), mtime)


def claim(
    *, session: Session, reviewer_id: int, now: datetime, settings: Settings, rng: random.Random | None,
    library: Library | None = None,
) -> Item | None:
    """The next item for this reviewer: the real one, or with the current probability a planted copy.

    In one transaction. The queue page splits it (reviewq.web.review): the real claim commits, a
    copy is chosen in a read session, and a second transaction stands it in.
    """
    item, plan = claim_real(session=session, reviewer_id=reviewer_id, now=now, settings=settings, rng=rng)
    if plan is None:
        return item
    planted = choose(session=session, served=item, reviewer_id=reviewer_id, kind=plan.kind, instead=plan.instead,
                     now=now, settings=settings, rng=rng,
                     library=library if library is not None else library_for(settings))
    if planted is None:
        return item
    return stand_in(session=session, planted=planted, served=item, plan=plan, reviewer_id=reviewer_id, now=now,
                    settings=settings, rng=rng)


@dataclass(frozen=True)
class PlantPlan:
    """The draw said: serve a planted copy of this kind in place of the claimed item."""

    kind: InjectionKind
    rate: Rate

    @property
    def instead(self) -> InjectionKind | None:
        """The kind to plant if `kind` has no source: the other one while it is below its week's
        budget at the plain rate (Rate.canary_room, control_room), so a stand-in never takes a
        kind past its budget, nor turns a drill's or a boost's canary draws into controls."""
        if self.kind == InjectionKind.CANARY:
            return InjectionKind.CONTROL if self.rate.control_room else None
        return InjectionKind.CANARY if self.rate.canary_room else None


def claim_real(
    *, session: Session, reviewer_id: int, now: datetime, settings: Settings, rng: random.Random | None,
    role: Role | None = None, snapshot: bool = False,
) -> tuple[Item | None, PlantPlan | None]:
    """Claim the next real item and draw whether a planted copy stands in for it.

    `role`: the reviewer's role if the caller has it already (the queue's request read it with its
    user, possibly in the read session before this write); otherwise it is read here. Only
    reviewers are planted for. `snapshot`: as claim_next's.
    """
    item = claim_next(session=session, reviewer_id=reviewer_id, now=now,
                      lease_seconds=settings.queue.lease_seconds, rng=rng, snapshot=snapshot)
    if item is None or rng is None or may_be_planted(item) or not _plants_on(session, reviewer_id, role):
        # No rng: the strict claim order, nothing planted (as claim_next without one).
        return item, None
    note_served(session=session, item=item, now=now)  # a warmer in this process keeps this slot warm
    rate = current_rate(session=session, reviewer_id=reviewer_id, now=now, settings=settings, rng=rng)
    draw = rng.random()
    if draw >= rate.canary + rate.control:
        return item, None
    return item, PlantPlan(kind=InjectionKind.CANARY if draw < rate.canary else InjectionKind.CONTROL, rate=rate)


def stand_in(
    *, session: Session, planted: Planted, served: Item, plan: PlantPlan, reviewer_id: int, now: datetime,
    settings: Settings, rng: random.Random, served_until: datetime | None = None,
) -> Item | None:
    """Give the real item back to the queue unseen and write the planted copy, leased to the reviewer.

    `served_until`: the real item's lease end as claimed, when the claim was committed before
    this transaction. If its lease was renewed since (the reviewer's other tab or a reload
    resumed it, so they have seen it), nothing is planted: None, and the real item stays theirs.
    """
    released = release(session=session, public_id=served.public_id, reviewer_id=reviewer_id, now=now,
                       lease_expires_at=served_until)
    if not released and served_until is not None:
        return None
    copy = write(session=session, planted=planted, served=served, reviewer_id=reviewer_id, rate=plan.rate, now=now,
                 settings=settings, rng=rng)
    if served in session:  # a snapshot of claim_next's not held by the session: nothing reads it again
        session.expire(served)
    return copy


_ROLE = select(User.role).where(User.id == sa.bindparam("user_id"))


def _plants_on(session: Session, reviewer_id: int, role: Role | None) -> bool:
    if role is None:
        role = session.connection().execute(_ROLE, {"user_id": reviewer_id}).scalar()
    return role == Role.REVIEWER


def choose(
    *, session: Session, served: Item, reviewer_id: int, kind: InjectionKind, now: datetime, settings: Settings,
    rng: random.Random, library: Library | None, cached_only: bool = False, instead: InjectionKind | None = None,
) -> Planted | None:
    """A planted copy to stand in for `served`, or None if nothing fits.

    Of the kind drawn, or else of the kind `instead` (PlantPlan.instead: the other kind, while it
    is below its week's budget): the claim's draw said a planted item goes here, and dropping it
    where one kind has no source (few approvals are ever confirmed good) left such slots with
    fewer planted items than their share of real work, a tell of its own. A stand-in counts in
    its kind's week, so neither kind goes past its budget through them.

    A control stand-in under `cached_only` raises NotCached: the confirmed-good search is what
    the queue page keeps out of the claim's write transaction (reviewq.web.review).

    `cached_only`: raise NotCached (projection_bank) rather than build the agent's value bank or
    the slot's profile here (the caller holds the write transaction).
    """
    retired = retired_keys(session=session)  # VIGILANCE.md §7: upheld disputes retire what made an item
    for wanted in (kind,) if instead is None else (kind, instead):
        if wanted is not kind and wanted == InjectionKind.CONTROL and cached_only:
            raise NotCached("a control stand-in searches the confirmed-good pool")
        planted = _choose_kind(session=session, served=served, reviewer_id=reviewer_id, kind=wanted, now=now,
                               settings=settings, rng=rng, library=library, retired=retired,
                               cached_only=cached_only)
        if planted is not None:
            return planted
    return None


def _choose_kind(*, session, served, reviewer_id, kind, now, settings, rng, library, retired,
                 cached_only) -> Planted | None:
    found = {"session": session, "served": served, "reviewer_id": reviewer_id, "settings": settings, "now": now}
    if kind == InjectionKind.CONTROL:
        for origin in sources.confirmed_good(**found):
            return Planted(kind=kind, source=InjectionSource.CONTROL, payload=origin.payload,
                           explanation=REPLAY_EXPLANATION,
                           template="replay", origin=origin, original_payload=origin.payload)
    else:
        bank: Bank | None = None
        for source_kind, candidates in (
            (InjectionSource.PROJECTION, sources.reservoir_sources),
            (InjectionSource.MUTATION, sources.decided_sources),
        ):
            for origin in candidates(**found):
                if bank is None:  # reused for a minute: building one costs ~100 ms (projection_bank.py)
                    bank = bank_for(session=session, agent=served.agent, now=now, days=settings.canaries.source_days,
                                    cached_only=cached_only)
                item = {"kind": origin.kind, "agent": origin.agent, "category": origin.category,
                        "payload": origin.payload}
                try:
                    mutator, mutation = mutate(item, rng, bank, exclude=retired_mutators(retired))
                except NotApplicable:
                    continue
                return Planted(kind=kind, source=source_kind, payload=mutation.item["payload"],
                               explanation=mutation.explanation, bucket=mutator.bucket, template=mutator.name,
                               origin=origin, original_payload=origin.payload)
    return _library_fill_in(session=session, served=served, reviewer_id=reviewer_id, kind=kind, now=now,
                            settings=settings, rng=rng, library=library, retired=retired, cached_only=cached_only)


_USED_ENTRIES = select(Injection.library_entry_id).where(
    Injection.reviewer_id == sa.bindparam("reviewer_id"), Injection.library_entry_id.is_not(None))


def _library_fill_in(*, session, served, reviewer_id, kind, now, settings, rng, library,
                     retired: set[str] | frozenset[str] = frozenset(), cached_only: bool = False) -> Planted | None:
    if library is None:
        return None
    slot = slot_for(session=session, agent=served.agent, category=served.category, kind=served.kind.value,
                    now=now, days=settings.canaries.source_days, cached_only=cached_only)
    used = set(session.connection().execute(_USED_ENTRIES, {"reviewer_id": reviewer_id}).scalars())
    used |= retired_library_entries(retired)
    entries = [e for e in entries_for_slot(library, slot, control=kind == InjectionKind.CONTROL) if e.id not in used]
    if not entries:
        return None
    entry = rng.choice(entries)
    rendered = render_entry(entry, make_faker(rng))
    return Planted(kind=kind, source=InjectionSource.LIBRARY, payload=rendered.payload,
                   explanation=rendered.explanation, bucket=entry.bucket, template=entry.id,
                   library_entry_id=entry.id, original_payload=rendered.payload if entry.is_control else None)


def same_format(trace_id: str, rng: random.Random) -> str:
    """A fresh trace id of the same format. Segments without a digit ("acme-", "ap-") are kept, as
    agents put constant prefixes there; in the others digits stay digits, hex stays hex (UUIDs), and
    other letters are kept."""
    out = []
    for segment in re.split(r"([^A-Za-z0-9]+)", trace_id):
        if not any(c.isdigit() for c in segment):
            out.append(segment)
            continue
        hexish = all(c in string.hexdigits for c in segment) and any(c.isalpha() for c in segment)
        out.append("".join(
            rng.choice(string.digits) if c.isdigit() and not hexish
            else rng.choice("0123456789abcdef" if c.islower() or c.isdigit() else "0123456789ABCDEF") if hexish
            else c
            for c in segment
        ))
    return "".join(out)[:128]


def write(
    *, session: Session, planted: Planted, served: Item, reviewer_id: int, rate: Rate, now: datetime,
    settings: Settings, rng: random.Random,
) -> Item:
    origin = planted.origin
    created, deadline = served.created_at, served.deadline
    required = 1
    if served.kind == ItemKind.APPROVAL and planted.payload.get("irreversible") is True \
            and settings.queue.two_person_rule:
        required = 2  # as real irreversible approvals; scoring closes it after this reviewer's verdict
    item = Item(
        kind=served.kind, trace_id=same_format(origin.trace_id if origin else served.trace_id, rng),
        agent=served.agent, category=served.category, payload=planted.payload, priority=served.priority,
        deadline=deadline, not_before=None, assigned_to=reviewer_id, required_approvals=required, token_id=None,
        public_id=new_public_id("itm"), status=ItemStatus.LEASED, lease_holder=reviewer_id, leased_at=now,
        lease_expires_at=now + timedelta(seconds=settings.queue.lease_seconds), created_at=created, updated_at=now,
    )
    stored(session, item, _INSERT_ITEM.run(session, column_values(item)).scalar_one())
    injection = Injection(
        item_id=item.id, reviewer_id=reviewer_id, kind=planted.kind, source=planted.source, bucket=planted.bucket,
        library_entry_id=planted.library_entry_id, source_item_id=origin.item_id if origin else None,
        source_ref=origin.ref if origin else None, template=planted.template,
        original_payload=planted.original_payload, explanation=planted.explanation, week_start=rate.week_start,
        scheduled_for=now, created_at=now, drill=rate.drill and planted.kind == InjectionKind.CANARY,
    )
    _INSERT_INJECTION.run(session, column_values(injection))
    return item


# The planted rows are built as the models build them (their defaults), then written as one
# statement each (lean_sql.py): two ORM flushes cost more than choosing the copy.
_INSERT_ITEM = Prebuilt(sa.insert(Item.__table__).returning(Item.__table__.c.id))
_INSERT_INJECTION = Prebuilt(sa.insert(Injection.__table__))
