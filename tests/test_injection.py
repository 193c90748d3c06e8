"""The weekly injection: who gets what, when it appears, never twice, and expiry at the week's end."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from reviewq.canaries.library import load_library
from reviewq.domain.injection import expire_unseen, inject_week, week_start_for
from reviewq.domain.queue import claim_next, decide, enqueue
from reviewq.domain.working_hours import pick_times, weights_from_times
from reviewq.models import (
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    Item,
    ItemStatus,
    Verdict,
)
from tests.factories import make_user, output_item

MONDAY = datetime(2026, 11, 9, 6, 0, tzinfo=UTC)


@pytest.fixture
def library(settings):
    return load_library(settings.canary_library_path)


def source_payload(i: int) -> dict:
    return {
        "input": f"Where is order {8810000 + i}? I paid ${20 + i}.",
        "output": {"answer": f"Order {8810000 + i} ships tomorrow.", "order_id": str(8810000 + i), "paid_usd": 20 + i},
        "trace": [{"tool": "lookup_order", "args": {"order_id": str(8810000 + i)}, "result": {"status": "paid"}}],
    }


def work(session, settings, reviewer, at, n, *, verdict=Verdict.APPROVE):
    """The reviewer decides n fresh real items starting at `at`, one a minute."""
    for i in range(n):
        t = at + timedelta(minutes=i)
        enqueue(session=session, data=output_item(payload=source_payload(i)), now=t - timedelta(minutes=5))
        item = claim_next(session=session, reviewer_id=reviewer.id, now=t, lease_seconds=120)
        decide(session=session, public_id=item.public_id, reviewer=reviewer,
               data=DecisionCreate(verdict=verdict), now=t + timedelta(seconds=20), settings=settings)


def history(session, settings):
    """ann works weekday afternoons (14:00-15:59 UTC), bob mornings; carol has not worked for a month."""
    ann = make_user(session, "ann", now=MONDAY - timedelta(days=60))
    bob = make_user(session, "bob", now=MONDAY - timedelta(days=60))
    carol = make_user(session, "carol", now=MONDAY - timedelta(days=60))
    for day in range(7, 2, -1):  # last week's Monday..Friday
        base = MONDAY.replace(hour=0) - timedelta(days=day)
        work(session, settings, ann, base.replace(hour=14, minute=10), 3)
        work(session, settings, ann, base.replace(hour=15, minute=20), 2)
        work(session, settings, bob, base.replace(hour=9, minute=5), 3)
    work(session, settings, carol, MONDAY - timedelta(days=30), 2)
    session.flush()
    return ann, bob, carol


def planted_for(session, user):
    return session.exec(
        select(Injection, Item).join(Item, Item.id == Injection.item_id).where(Injection.reviewer_id == user.id)
    ).all()


def test_week_plants_canaries_and_controls_for_active_reviewers_only(session, settings, library):
    """Each active reviewer gets 5 canaries and 5 controls, assigned to them, agent-invisible; inactive ones nothing."""
    ann, bob, carol = history(session, settings)
    planted = inject_week(session=session, library=library, settings=settings, now=MONDAY, rng=random.Random(1))
    assert Counter(i.reviewer_id for i in planted) == {ann.id: 10, bob.id: 10}
    for user in (ann, bob):
        rows = planted_for(session, user)
        assert Counter(inj.kind for inj, _ in rows) == {InjectionKind.CANARY: 5, InjectionKind.CONTROL: 5}
        canary_buckets = [inj.bucket for inj, _ in rows if inj.kind == InjectionKind.CANARY]
        assert len(set(canary_buckets)) >= 4  # stratified across buckets
        for inj, item in rows:
            assert item.assigned_to == user.id and item.token_id is None
            assert item.status == ItemStatus.QUEUED and inj.outcome == InjectionOutcome.PENDING
            assert MONDAY <= item.not_before < MONDAY + timedelta(days=7)
            assert item.not_before == inj.scheduled_for and inj.explanation
            assert item.created_at <= item.not_before
            if item.kind.value == "approval":
                assert item.deadline == item.not_before + timedelta(seconds=settings.approvals.default_timeout_s)
    sources = Counter(i.source for i in planted if i.kind == InjectionKind.CANARY)
    assert sources[InjectionSource.LIBRARY] > 0 and sources[InjectionSource.MUTATION] > 0
    for inj in planted:
        if inj.source == InjectionSource.MUTATION:
            assert session.get(Item, inj.source_item_id).outcome.value == "approve"
    assert planted_for(session, carol) == []


def test_times_fall_inside_learned_working_hours(session, settings, library):
    """ann's items are due on weekday afternoons, when she usually works, spread over several days."""
    ann, _bob, _carol = history(session, settings)
    inject_week(session=session, library=library, settings=settings, now=MONDAY, rng=random.Random(2))
    due = [inj.scheduled_for for inj, _ in planted_for(session, ann)]
    assert {t.hour for t in due} <= {14, 15}
    assert {t.weekday() for t in due} <= {0, 1, 2, 3, 4}
    assert len({t.date() for t in due}) >= 3


def test_items_appear_only_for_their_reviewer_from_their_time(session, settings, library):
    """Before its time nobody gets a planted item; from its time only its reviewer does."""
    ann, bob, _carol = history(session, settings)
    inject_week(session=session, library=library, settings=settings, now=MONDAY, rng=random.Random(3))
    rows = sorted(planted_for(session, ann), key=lambda r: r[1].not_before)
    first = rows[0][1]
    before = first.not_before - timedelta(seconds=1)
    assert claim_next(session=session, reviewer_id=ann.id, now=before, lease_seconds=60) is None
    bob_got = claim_next(session=session, reviewer_id=bob.id, now=first.not_before, lease_seconds=60)
    assert bob_got is None or bob_got.assigned_to == bob.id
    got = claim_next(session=session, reviewer_id=ann.id, now=first.not_before, lease_seconds=60)
    assert got is not None and got.id == first.id


def test_second_run_in_the_same_week_plants_nothing(session, settings, library):
    """A duplicated or restarted scheduler does not plant twice in one week."""
    history(session, settings)
    first = inject_week(session=session, library=library, settings=settings, now=MONDAY, rng=random.Random(4))
    again = inject_week(session=session, library=library, settings=settings, now=MONDAY + timedelta(hours=1),
                        rng=random.Random(5))
    assert len(first) == 20 and again == []


def test_never_the_same_entry_or_source_twice(session, settings, library):
    """Over many injections a reviewer never gets the same library entry or source item twice."""
    settings = settings.replace(canaries={"per_reviewer_per_week": 12, "controls_per_reviewer_per_week": 8})
    ann, _bob, _carol = history(session, settings)
    for run in range(3):
        inject_week(session=session, library=library, settings=settings, now=MONDAY + timedelta(minutes=run),
                    rng=random.Random(10 + run), reviewer_names=["ann"], due_now=True)
    rows = [inj for inj, _ in planted_for(session, ann)]
    entries = [i.library_entry_id for i in rows if i.library_entry_id]
    sources = [i.source_item_id for i in rows if i.source_item_id]
    # 36 canaries; controls run out after the library's 21 rather than repeat one.
    assert len(rows) == 36 + len(library.controls)
    assert len(entries) == len(set(entries)) and len(sources) == len(set(sources))


def test_unseen_items_expire_at_the_weeks_end(session, settings, library):
    """Items not shown by the week's end expire and count as neither caught nor missed."""
    ann, _bob, _carol = history(session, settings)
    inject_week(session=session, library=library, settings=settings, now=MONDAY, rng=random.Random(6))
    week_end = MONDAY.replace(hour=0) + timedelta(days=7)
    items = session.exec(select(Item).join(Injection, Injection.item_id == Item.id)).all()
    approvals = sum(1 for item in items if item.kind.value == "approval")
    # Before the week ends only approvals past their deadline expire.
    assert expire_unseen(session=session, now=week_end - timedelta(hours=1)) == approvals
    expire_unseen(session=session, now=week_end)
    rows = planted_for(session, ann)
    assert all(inj.outcome == InjectionOutcome.EXPIRED for inj, _ in rows)
    assert all(item.status == ItemStatus.EXPIRED for _, item in rows)


def test_week_start_is_monday_midnight_in_the_configured_timezone():
    """The injection week starts Monday 00:00 local time."""
    tz = ZoneInfo("America/New_York")
    start = week_start_for(datetime(2026, 11, 11, 3, 0, tzinfo=UTC), tz)
    assert start.weekday() == 0 and (start.hour, start.minute) == (0, 0) and start.tzinfo == tz


def test_pick_times_defaults_to_office_hours_without_history():
    """With no history the times fall on weekdays 09:00-17:00, all after the start."""
    tz = ZoneInfo("UTC")
    week = datetime(2026, 11, 9, tzinfo=tz)
    start = week + timedelta(hours=6)
    times = pick_times(weights=weights_from_times([], tz), week_start=week, start=start,
                       end=week + timedelta(days=7), n=10, rng=random.Random(0))
    assert all(start <= t and t.weekday() < 5 and 9 <= t.hour < 17 for t in times)
