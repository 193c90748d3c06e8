"""A queue call on the event loop's thread builds nothing for a plant: it serves the real item,
builds the agent's value bank aside and owes the plant to a later claim (reviewq.domain.deferred_plants)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta

from sqlmodel import select

from reviewq.domain import projection_bank
from reviewq.domain.deferred_plants import DeferredPlants
from reviewq.domain.items import enqueue
from reviewq.models import Injection, InjectionKind, Item, utcnow
from reviewq.web import create_app
from tests.factories import approved_by_two, output_item, team_with_a_known_good_source
from tests.support.in_thread import in_thread
from tests.support.waiting import until
from tests.support.web import json_headers, login


class Switch(random.Random):
    """Every draw is `value`: 0.0 plants whenever the week's budget allows, 0.99 never."""

    value = 0.0

    def random(self) -> float:
        return self.value


def _on_a_loop(call):
    """`call()` inside a running event loop, as the front runs a queue call on SQLite."""

    async def main():
        return call()

    return in_thread(asyncio.run, main())


def _planted_ids(database) -> set[str]:
    with database.session_scope(readonly=True) as s:
        return set(s.exec(select(Item.public_id).join(Injection, Injection.item_id == Item.id)).all())


def _bank_cached(app) -> bool:
    engine = projection_bank.database_key(app.extensions["reviewq.db"].engine)
    return any(key[0] == "bank" for key in projection_bank._built.get(engine, {}))


def test_on_the_loop_a_plant_needing_a_build_is_owed_and_planted_at_the_next_claim(database):
    now = utcnow()
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 500,
                                                   "controls_per_reviewer_per_week": 0, "reservoir": False})
    real_ids = team_with_a_known_good_source(database, settings, now, real_items=3)
    rng = Switch()
    app = create_app(settings, claim_rng=rng)
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)

        # The draw plants, but the agent's value bank was never built: the real item is served now.
        first = _on_a_loop(lambda: client.post("/queue/next", headers=headers))
        assert first.status_code == 200, first.get_data(as_text=True)
        assert first.get_json()["item"]["id"] == real_ids[0]
        assert _planted_ids(database) == set()
        assert app.extensions["reviewq.deferred_plants"].owed(_rita(database)) == InjectionKind.CANARY
        until(lambda: projection_bank.rebuilding() == 0 and _bank_cached(app))  # built aside

        # The next claim's own draw plants nothing: the owed canary stands in for its real item.
        rng.value = 0.99
        decided = _on_a_loop(lambda: client.post(f"/queue/items/{real_ids[0]}/decide", headers=headers,
                                                 json={"verdict": "approve"}))
        assert decided.status_code == 200, decided.get_data(as_text=True)
        copy_id = decided.get_json()["next"]["id"]
        assert copy_id not in real_ids and _planted_ids(database) == {copy_id}
        assert app.extensions["reviewq.deferred_plants"].owed(_rita(database)) is None

        # Nothing more is owed: the claim after it serves a real item.
        again = _on_a_loop(lambda: client.post(f"/queue/items/{copy_id}/decide", headers=headers,
                                               json={"verdict": "reject", "reason": "other"}))
        assert again.status_code == 200, again.get_data(as_text=True)
        assert again.get_json()["next"]["id"] in real_ids[1:]
        assert _planted_ids(database) == {copy_id}
    finally:
        app.extensions["reviewq.db"].dispose()


def test_off_the_loop_the_first_plant_builds_in_the_call_and_stands_in_at_once(database):
    """The test client, a plain WSGI server, PostgreSQL's pool threads: nothing waits on this thread."""
    now = utcnow()
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 500,
                                                   "controls_per_reviewer_per_week": 0, "reservoir": False})
    real_ids = team_with_a_known_good_source(database, settings, now, real_items=3)
    app = create_app(settings, claim_rng=Switch())
    try:
        client = app.test_client()
        login(client, "rita")
        first = client.post("/queue/next", headers=json_headers(client))
        assert first.status_code == 200, first.get_data(as_text=True)
        copy_id = first.get_json()["item"]["id"]
        assert copy_id not in real_ids and _planted_ids(database) == {copy_id}
        assert "reviewq.deferred_plants" not in app.extensions
    finally:
        app.extensions["reviewq.db"].dispose()


def _rita(database) -> int:
    from reviewq.models import User

    with database.session_scope(readonly=True) as s:
        return s.exec(select(User.id).where(User.name == "rita")).one()


def test_one_plant_is_owed_at_a_time_and_not_forever():
    owed = DeferredPlants(owed_for_s=0.05)
    assert owed.owed(7) is None
    owed.owe(7, InjectionKind.CANARY)
    owed.owe(7, InjectionKind.CONTROL)  # the older one stands
    assert owed.owed(7) == InjectionKind.CANARY and owed.owed(8) is None
    owed.settle(7)
    assert owed.owed(7) is None
    owed.owe(7, InjectionKind.CONTROL)
    time.sleep(0.06)
    assert owed.owed(7) is None  # given up after owed_for_s


def test_on_the_loop_a_simulations_own_time_is_still_built_for_in_the_call(database):
    """A clock moved on by hours while real time stands still (a simulation) is built for in its
    caller, as off the loop: a build aside would be for a time its next claim has left."""
    start = utcnow()
    at = [start]
    settings = database.settings.replace(canaries={"onboarding_drill": False, "per_reviewer_per_week": 500,
                                                   "controls_per_reviewer_per_week": 0, "reservoir": False})
    real_ids = team_with_a_known_good_source(database, settings, start, real_items=3)
    with database.session_scope() as s:  # a second source, for a second canary
        source = enqueue(session=s, now=start - timedelta(minutes=35),
                         data=output_item(agent="acme", category="orders", required_approvals=2)).item
        approved_by_two(s, source, at=start - timedelta(minutes=30), settings=settings)
    app = create_app(settings, clock=lambda: at[0], claim_rng=Switch())
    try:
        client = app.test_client()
        login(client, "rita")
        headers = json_headers(client)
        first = client.post("/queue/next", headers=headers)  # off the loop: the bank is built here
        first_copy = first.get_json()["item"]["id"]
        assert first_copy not in real_ids and _bank_cached(app)

        at[0] = start + timedelta(hours=5)
        second = _on_a_loop(lambda: client.post(f"/queue/items/{first_copy}/decide", headers=headers,
                                                json={"verdict": "approve"}))
        assert second.status_code == 200, second.get_data(as_text=True)
        second_copy = second.get_json()["next"]["id"]
        assert second_copy not in real_ids and _planted_ids(database) == {first_copy, second_copy}
        assert app.extensions.get("reviewq.deferred_plants") is None or \
            app.extensions["reviewq.deferred_plants"].owed(_rita(database)) is None
    finally:
        app.extensions["reviewq.db"].dispose()
