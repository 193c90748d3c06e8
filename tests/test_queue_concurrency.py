"""16 reviewers racing over 2,000 items: nothing claimed twice at once, decided twice, or lost."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.models import Decision, DecisionCreate, Item, ItemKind, ItemStatus, Verdict
from reviewq.models.common import new_public_id
from tests.factories import make_user

THREADS = 16
ITEMS = 2000


@pytest.mark.slow
def test_sixteen_threads_claim_and_decide_two_thousand_items(database, settings):
    """Every item is claimed by exactly one reviewer, decided exactly once, and none is lost."""
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with database.session_scope() as s:
        reviewers = [make_user(s, f"r{i:02d}", now=start) for i in range(THREADS)]
        reviewer_ids = [r.id for r in reviewers]
        rows = [
            dict(
                public_id=new_public_id("itm"), kind=ItemKind.OUTPUT, status=ItemStatus.QUEUED,
                trace_id=f"t{i}", agent="bench", category="search", payload={"i": i},
                priority=0, required_approvals=1, created_at=start, updated_at=start,
            )
            for i in range(ITEMS)
        ]
        s.execute(sa.insert(Item), rows)

    claims: dict[int, list[int]] = defaultdict(list)
    claims_lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(reviewer_id: int) -> None:
        try:
            with database.session() as s:
                reviewer = s.get(type(reviewers[0]), reviewer_id)
            barrier.wait()
            for _ in range(ITEMS):  # bounded: each pass takes or finds nothing
                now = datetime.now(UTC)
                with database.session_scope() as s:
                    item = claim_next(session=s, reviewer_id=reviewer_id, now=now, lease_seconds=600)
                    public_id = item.public_id if item else None
                    item_id = item.id if item else None
                if public_id is None:
                    return
                with claims_lock:
                    claims[item_id].append(reviewer_id)
                with database.session_scope() as s:
                    decide(
                        session=s, public_id=public_id, reviewer=reviewer,
                        data=DecisionCreate(verdict=Verdict.APPROVE, active_ms=1000),
                        now=datetime.now(UTC), settings=settings,
                    )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rid,)) for rid in reviewer_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors[:3]

    assert len(claims) == ITEMS, "some items were never claimed"
    double = {item: who for item, who in claims.items() if len(who) > 1}
    assert not double, f"claimed more than once: {list(double.items())[:5]}"
    with database.session() as s:
        per_item = Counter(s.exec(select(Decision.item_id)).all())
        statuses = Counter(s.exec(select(Item.status)).all())
    assert len(per_item) == ITEMS and set(per_item.values()) == {1}
    assert statuses == {ItemStatus.DECIDED: ITEMS}
    # Most reviewers won some items, so the race was real (SQLite may starve one or two).
    assert len({who[0] for who in claims.values()}) >= THREADS // 2
