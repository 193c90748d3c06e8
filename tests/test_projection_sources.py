"""The database chooses a projection's sources: nearest in creation time first, never one this reviewer
decided or was planted from, controls only from items a lead or two reviewers approved (both databases)."""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain import projection, reservoir
from reviewq.domain import projection_sources as sources
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, Injection, Role, Verdict
from reviewq.sqlfuncs import seconds_apart
from tests.factories import make_user, output_item


class Always(random.Random):
    def random(self) -> float:
        return 0.0


def _order(i: int) -> dict:
    return {"input": f"Where is order ACM-{500000 + i}?",
            "output": {"reply": f"Order ACM-{500000 + i} is in transit and will arrive in 3 days.",
                       "order_id": f"ACM-{500000 + i}", "eta_days": 3}}


def _approve_next(session, who, settings, now):
    item = claim_next(session=session, reviewer_id=who.id, now=now, lease_seconds=60)
    if item is not None:
        decide(session=session, public_id=item.public_id, reviewer=who, settings=settings, now=now,
               data=DecisionCreate(verdict=Verdict.APPROVE))
    return item


def _approve_all(session, who, settings, now):
    while _approve_next(session, who, settings, now) is not None:
        pass


def _slot_item(session, at, tag):
    return enqueue(session=session, now=at, data=output_item(
        agent="acme", category="orders", trace_id=f"acme-{tag}", payload={"input": f"q {tag}", "output": f"a {tag}"},
    )).item


def test_seconds_apart_is_the_distance_in_seconds_either_way(session, now):
    """The SQL ordering key: |a - b| in seconds, on both backends."""
    later = now + timedelta(minutes=90, seconds=3)
    a = sa.literal(now, type_=sources.UTCDateTime)
    b = sa.literal(later, type_=sources.UTCDateTime)
    forward, backward = session.connection().execute(sa.select(seconds_apart(a, b), seconds_apart(b, a))).one()
    assert abs(forward - 5403) < 0.01 and abs(backward - 5403) < 0.01


def test_decided_sources_come_nearest_first_and_never_from_the_reviewers_own_work(session, settings, now):
    """The served item's own batch first, then by distance in time on either side; not items the reviewer
    decided, not planted copies, and not a source already planted for this reviewer."""
    lena = make_user(session, "lena", Role.LEAD, now=now)
    ann = make_user(session, "ann", now=now)
    served_at = now - timedelta(hours=4)
    offsets = {"same": timedelta(0), "before-30m": -timedelta(minutes=30), "after-50m": timedelta(minutes=50),
               "before-2h": -timedelta(hours=2)}
    made = {tag: _slot_item(session, served_at + offset, tag) for tag, offset in offsets.items()}
    _approve_all(session, lena, settings, now - timedelta(minutes=10))
    own = _slot_item(session, served_at, "anns-own")  # same batch, but ann decides it herself
    claimed = claim_next(session=session, reviewer_id=ann.id, now=now, lease_seconds=60)
    assert claimed.id == own.id
    decide(session=session, public_id=own.public_id, reviewer=ann, settings=settings, now=now,
           data=DecisionCreate(verdict=Verdict.APPROVE))
    served = _slot_item(session, served_at, "served")

    def found(reviewer_id):
        return [s.trace_id for s in sources.decided_sources(session=session, served=served, reviewer_id=reviewer_id,
                                                             settings=settings, now=now)]

    assert found(ann.id) == ["acme-same", "acme-before-30m", "acme-after-50m", "acme-before-2h"]
    assert found(lena.id)[0] == "acme-anns-own"  # ann's item is another reviewer's source
    # Plant one for ann: that source is never offered to her again, nor is the planted copy to anyone.
    settings = settings.replace(canaries={"reservoir": False, "onboarding_drill": False,
                                          "per_reviewer_per_week": 50})
    copy = projection.claim(session=session, reviewer_id=ann.id, now=now, settings=settings, rng=Always())
    planted_from = session.exec(select(Injection.source_item_id).where(Injection.item_id == copy.id)).one()
    assert copy.id != served.id and planted_from == made["same"].id
    assert found(ann.id) == ["acme-before-30m", "acme-after-50m", "acme-before-2h"]
    assert copy.id not in {s.item_id for s in sources.decided_sources(
        session=session, served=served, reviewer_id=lena.id, settings=settings, now=now)}


def test_controls_need_a_lead_or_two_reviewers(session, settings, now):
    """One reviewer's approval does not make a control; a second reviewer's, or a lead's, does."""
    ann, bob, cat = (make_user(session, n, now=now) for n in ("ann", "bob", "cat"))
    lena = make_user(session, "lena", Role.LEAD, now=now)
    once = _slot_item(session, now - timedelta(hours=3), "once")
    _approve_all(session, ann, settings, now - timedelta(hours=2))
    twice = enqueue(session=session, now=now - timedelta(hours=3), data=output_item(
        agent="acme", category="orders", trace_id="acme-twice", required_approvals=2)).item
    for who in (ann, bob):  # one approval each
        _approve_next(session, who, settings, now - timedelta(hours=2))
    by_lead = _slot_item(session, now - timedelta(hours=3), "by-lead")
    _approve_all(session, lena, settings, now - timedelta(hours=2))
    served = _slot_item(session, now - timedelta(hours=3), "served")
    good = {s.item_id for s in sources.confirmed_good(session=session, served=served, reviewer_id=cat.id,
                                                      settings=settings, now=now)}
    assert good == {twice.id, by_lead.id} and once.id not in good


def test_controls_look_only_among_the_most_recently_approved(session, settings, now, monkeypatch):
    """A slot with few confirmed items is not read to the end of its window: the search stops after
    CONFIRMED_SCAN approved items, most recently decided first."""
    cat = make_user(session, "cat", now=now)
    lena = make_user(session, "lena", Role.LEAD, now=now)
    ann = make_user(session, "ann", now=now)
    old_good = _slot_item(session, now - timedelta(hours=6), "old-good")
    _approve_all(session, lena, settings, now - timedelta(hours=5))  # confirmed, decided first
    for i in range(3):  # then approved by one reviewer only: not confirmed
        _slot_item(session, now - timedelta(hours=6), f"once-{i}")
    _approve_all(session, ann, settings, now - timedelta(hours=4))
    served = _slot_item(session, now - timedelta(hours=6), "served")

    def good():
        return {s.item_id for s in sources.confirmed_good(session=session, served=served, reviewer_id=cat.id,
                                                          settings=settings, now=now)}

    assert good() == {old_good.id}
    monkeypatch.setattr(sources, "CONFIRMED_SCAN", 3)  # the three newer approvals fill the scan
    assert good() == set()
    monkeypatch.setattr(sources, "CONFIRMED_SCAN", 4)
    assert good() == {old_good.id}


def test_reservoir_sources_come_nearest_first_and_skip_what_was_planted_for_the_reviewer(session, settings, now):
    """Unsampled outputs of the slot: the served item's batch, then the nearest batches; a source planted
    for this reviewer is never offered to them again."""
    ann = make_user(session, "ann", now=now)
    served_at = now - timedelta(hours=5)
    for tag, offset in (("far", -timedelta(hours=3)), ("same", timedelta(0)), ("after", timedelta(minutes=20)),
                        ("before", -timedelta(hours=1))):
        reservoir.keep_unsampled(session=session, agent="acme", settings=settings.canaries, now=served_at + offset,
                                 rng=random.Random(1), outputs=[("orders", f"{tag}-{i}", _order(i)) for i in range(2)])
    served = _slot_item(session, served_at, "served")

    def found():
        return [s.trace_id.split("-")[0] for s in sources.reservoir_sources(
            session=session, served=served, reviewer_id=ann.id, settings=settings, now=now)]

    assert found() == ["same", "same", "after", "after", "before", "before", "far", "far"]
    settings = settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 50})
    copy = projection.claim(session=session, reviewer_id=ann.id, now=now, settings=settings, rng=Always())
    assert copy.id != served.id
    assert found() == ["same", "after", "after", "before", "before", "far", "far"]
