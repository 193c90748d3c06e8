"""A simulated reviewer with a known truth clears a queue through the queue page, whose planted
copies are chosen outside the write transaction (reviewq.web.review._claim): the dashboard's
canary counts read back exactly what the reviewer did with what was planted, and every real item
is decided once, none left leased."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from reviewq.domain.canary_rate import boost_rate
from reviewq.domain.items import enqueue
from reviewq.models import Decision, Injection, InjectionKind, Item, ItemStatus, User
from reviewq.stats import Filters
from reviewq.stats import canary_queries as cq
from reviewq.web import create_app
from tests.factories import approved_by_two, make_user, output_item
from tests.support.web import json_headers, login

# Enough real work and known-good sources that each kind is planted at least twice, whichever
# way the claims' draws go (10 plants once drew a single control).
SOURCES, REAL_ITEMS = 20, 80
READ_S = 15
START = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def test_a_simulated_reviewer_through_the_queue_page_is_counted_as_they_reviewed(database):
    # A fixed instant, mid-week: a claim's rate depends on the time left in the canary week, so on
    # the wall clock the seeded draws depended on when the test ran.
    now = START
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 0,
                                                   "controls_per_reviewer_per_week": 500})
    with database.session_scope() as s:
        rita = make_user(s, "rita", now=now - timedelta(days=20))
        for i in range(SOURCES):  # known-good items of the slot: control and mutation sources
            at = now - timedelta(hours=3, minutes=-i)
            source = enqueue(session=s, now=at, data=output_item(agent="acme", category="orders",
                                                                 required_approvals=2)).item
            approved_by_two(s, source, at=at, settings=settings)
        real_ids = {enqueue(session=s, now=now - timedelta(minutes=45 - i / 2),
                            data=output_item(agent="acme", category="orders")).item.public_id
                    for i in range(REAL_ITEMS)}
        boost_rate(session=s, reviewer_id=rita.id, probability=0.3, hours=2, drill=False, reason="simulation",
                   created_by="lena", now=now - timedelta(minutes=1))

    # The reviewer's own behaviour, apart from the claims' draws: every other canary missed, every
    # other control (the first included) rejected, so both outcomes of each kind occur.
    expected = {"canaries": 0, "caught": 0, "controls": 0, "false_alarms": 0}
    served_real: list[str] = []
    # The app's clock moves only as the reviewer does (READ_S an item), not with the machine's load.
    # The draws can still differ with what earlier tests left in the process (caches), hence the
    # counts large enough above.
    clock = [now]
    app = create_app(settings, clock=lambda: clock[0], claim_rng=random.Random(7))
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        item = client.post("/queue/next", headers=headers).get_json()["item"]
        for _ in range(REAL_ITEMS * 2):
            if item is None:
                break
            with database.session_scope() as s:  # the simulation's oracle, never the reviewer's view
                planted = s.exec(select(Injection).join(Item, Item.id == Injection.item_id)
                                 .where(Item.public_id == item["id"])).first()
            reject = False
            if planted is None:
                served_real.append(item["id"])
            elif planted.kind == InjectionKind.CANARY:
                expected["canaries"] += 1
                reject = expected["canaries"] % 2 == 1
                expected["caught"] += reject
            else:
                expected["controls"] += 1
                reject = expected["controls"] % 2 == 1
                expected["false_alarms"] += reject
            clock[0] += timedelta(seconds=READ_S)
            body = {"verdict": "reject", "reason": "other"} if reject else {"verdict": "approve"}
            decided = client.post(f"/queue/items/{item['id']}/decide", headers=headers, json=body)
            assert decided.status_code == 200, decided.get_data(as_text=True)
            item = decided.get_json()["next"]
        assert item is None, "the queue did not run dry"
    finally:
        app.extensions["reviewq.db"].dispose()

    # Each kind was planted, and the reviewer both caught and missed, and raised a false alarm.
    assert expected["canaries"] > expected["caught"] > 0, expected
    assert expected["controls"] > expected["false_alarms"] > 0, expected
    with database.session_scope() as s:
        counts = cq.counts_by_reviewer(session=s, filters=Filters.default(clock[0]))[rita.id]
        assert {k: getattr(counts, k) for k in expected} == expected
        # Every real item reached rita once and was decided once; nothing is left leased.
        assert sorted(served_real) == sorted(real_ids)
        real = s.exec(select(Item).where(Item.public_id.in_(real_ids))).all()
        assert all(r.status == ItemStatus.DECIDED for r in real)
        rita_id = s.exec(select(User.id).where(User.name == "rita")).one()
        decided_real = s.exec(select(Decision.item_id).where(Decision.reviewer_id == rita_id,
                                                             Decision.item_id.in_([r.id for r in real]))).all()
        assert len(decided_real) == len(set(decided_real)) == REAL_ITEMS
        assert not s.exec(select(Item).where(Item.status == ItemStatus.LEASED)).all()
