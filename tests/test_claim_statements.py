"""The queue's hot statements (claim, resume, settle) are built once and keyed once.

Run as ORM-enabled UPDATE … RETURNING, SQLAlchemy annotated the prebuilt statement afresh on
every execution and computed its cache key again from the whole tree: a third of a claim's cost.
They now run as select(Item).from_statement(...), whose memoized key is reused. Both databases.
"""

from __future__ import annotations

import random
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.sql import cache_key

from reviewq.domain import claims
from reviewq.domain import decide as decide_domain
from reviewq.domain.items import enqueue
from reviewq.models import DecisionCreate, Item, ItemStatus, utcnow
from tests.factories import make_user, output_item


class _KeyCount:
    """Statements whose cache key is computed (not taken from the statement's memo)."""

    def __init__(self, monkeypatch):
        self.keyed: list = []
        original = cache_key.HasCacheKey._generate_cache_key

        def counted(element):
            self.keyed.append(element)
            return original(element)

        monkeypatch.setattr(cache_key.HasCacheKey, "_generate_cache_key", counted)


def test_claim_resume_and_settle_are_keyed_once(database, settings, monkeypatch):
    now = utcnow()
    with database.session_scope() as s:
        reviewer = make_user(s, "rita", now=now)
        for i in range(6):
            enqueue(session=s, data=output_item(), now=now - timedelta(minutes=10 - i))

    def round_trip(session):
        item = claims.claim_next(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=120,
                                 rng=random.Random(1))
        assert isinstance(item, Item) and item.status == ItemStatus.LEASED and item.lease_holder == reviewer.id
        resumed = claims.resume_held(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=120)
        assert resumed is item  # the same object, refreshed from the row
        result = decide_domain.decide(session=session, public_id=item.public_id, reviewer=reviewer,
                                      data=DecisionCreate(verdict="approve"), now=now, settings=settings)
        assert result.item.status == ItemStatus.DECIDED and result.settled

    with database.session_scope() as s:
        round_trip(s)  # first use: every statement is keyed (and compiled) once
    keys = _KeyCount(monkeypatch)
    with database.session_scope() as s:
        round_trip(s)
    # Other statements of a decision may be built per call; no UPDATE of items is keyed again.
    assert [str(e)[:60] for e in keys.keyed if isinstance(e, sa.Update) and e.table.name == "items"] == []
