"""The weekly canary job's other half: planted items a reviewer skipped and never came back to expire."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from reviewq.domain import projection
from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.claims import release
from reviewq.domain.injection import expire_unseen, week_start_for
from reviewq.domain.items import enqueue
from reviewq.domain.sampling import submit_outputs
from reviewq.domain.tokens import create_token
from reviewq.models import Injection, InjectionOutcome, ItemStatus
from reviewq.models.outputs import OutputCreate
from tests.factories import make_user, output_item

MONDAY = datetime(2026, 11, 9, 6, 0, tzinfo=UTC)


class Always(random.Random):
    def random(self) -> float:
        return 0.0


def test_a_skipped_planted_item_expires_at_the_weeks_end(session, settings):
    """A planted item skipped and never decided expires at the week's end and counts as neither caught nor missed."""
    ann = make_user(session, "ann", now=MONDAY - timedelta(days=30))
    token = create_token(session=session, agent="acme", scopes=("items:write",), now=MONDAY, actor="t").token
    outputs = [OutputCreate(trace_id=f"t-{i}", category="orders", input=f"Order {1000 + i}?",
                            output=f"Order {1000 + i} ships on Monday.") for i in range(40)]
    submit_outputs(session=session, token=token, outputs=outputs, sampling=settings.sampling, now=MONDAY,
                   canaries=settings.canaries, rng=random.Random(1))
    enqueue(session=session, now=MONDAY, data=output_item(agent="acme", category="orders",
                                                          payload={"input": "Order 1?", "output": "It ships."}))
    boost_rate(session=session, reviewer_id=ann.id, probability=0.5, hours=1, drill=False, reason="",
               created_by="lena", now=MONDAY)
    copy = projection.claim(session=session, reviewer_id=ann.id, now=MONDAY, settings=settings, rng=Always())
    injection = session.exec(select(Injection).where(Injection.item_id == copy.id)).one()
    assert release(session=session, public_id=copy.public_id, reviewer_id=ann.id, now=MONDAY)  # skipped
    session.expire_all()
    week_end = week_start_for(MONDAY, ZoneInfo(settings.canaries.timezone)) + timedelta(days=7)
    assert expire_unseen(session=session, now=week_end - timedelta(hours=1)) == 0
    assert expire_unseen(session=session, now=week_end) == 1
    session.refresh(injection)
    assert injection.outcome == InjectionOutcome.EXPIRED
    session.refresh(copy)
    assert copy.status == ItemStatus.EXPIRED


def test_week_start_is_monday_midnight_in_the_configured_timezone():
    """The canary week starts Monday 00:00 local time."""
    tz = ZoneInfo("America/New_York")
    start = week_start_for(datetime(2026, 11, 11, 3, 0, tzinfo=UTC), tz)
    assert start.weekday() == 0 and (start.hour, start.minute) == (0, 0) and start.tzinfo == tz
