"""A served process builds the projection caches of open work before a canary asks for them.

The first plant of an agent or a slot built its value bank and slot profile in the request: on
SQLite under `reviewq serve`, on the event loop's thread, stalling every reviewer and waiting agent.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest

from reviewq.domain import projection_bank, projection_warmer
from reviewq.domain.items import enqueue
from reviewq.domain.projection import claim_real
from reviewq.domain.projection_bank import FRESH_S, NotCached, bank_for, slot_for
from reviewq.domain.projection_warmer import REFRESH_S, Warmer, note_open, start_warming, stop_warming
from reviewq.models import ItemStatus
from tests.factories import make_user, output_item
from tests.support.waiting import until

DAYS = 14


def _enqueue(database, now, *, agent="support-bot", category="customer_support", status=None) -> None:
    with database.session_scope() as s:
        payload = {"input": "where is it?", "output": "Order ACM-100001 shipped."}
        item = enqueue(session=s, now=now, data=output_item(agent=agent, category=category, payload=payload)).item
        if status is not None:
            item.status = status


def _plant_would_build(database, now, *, agent="support-bot", category="customer_support", kind="output") -> bool:
    """What a plant inside a claim's transaction finds: NotCached when it would have to build."""
    try:
        with database.session(readonly=True) as s:
            bank_for(session=s, agent=agent, now=now, days=DAYS, cached_only=True)
            slot_for(session=s, agent=agent, category=category, kind=kind, now=now, days=DAYS, cached_only=True)
    except NotCached:
        return True
    return False


def test_a_scan_builds_what_a_plant_in_each_open_slot_needs_and_nothing_else(database, now):
    _enqueue(database, now)
    _enqueue(database, now, category="billing")
    _enqueue(database, now, agent="other-bot", category="orders", status=ItemStatus.DECIDED)  # closed work
    warmer = Warmer(database.engine, days=DAYS, clock=lambda: now)
    assert _plant_would_build(database, now)
    assert warmer.scan() == 3  # support-bot's bank, and its two slots' profiles
    assert not _plant_would_build(database, now)
    assert not _plant_would_build(database, now, category="billing")
    assert _plant_would_build(database, now, agent="other-bot", category="orders")  # nothing open there
    assert warmer.scan() == 0  # warm already: a scan costs one query


def test_an_ageing_value_is_rebuilt_by_a_scan_only_for_a_slot_in_use(database, now, monkeypatch):
    """Past STALE_S a plant builds in the request: the warmer renews the values of slots reviewers
    claim from well before then, and reads nothing for the others."""
    clock = SimpleNamespace(at=1_000_000.0)
    clock.monotonic = lambda: clock.at
    monkeypatch.setattr(projection_bank, "time", clock)
    _enqueue(database, now)
    warmer = Warmer(database.engine, days=DAYS, clock=lambda: now + timedelta(seconds=clock.at - 1_000_000.0))
    assert warmer.scan() == 2
    with database.session(readonly=True) as s:
        first = bank_for(session=s, agent="support-bot", now=now, days=DAYS, cached_only=True)
    clock.at += FRESH_S + REFRESH_S
    assert warmer.scan() == 0  # nobody reviews there: left to age
    later = now + timedelta(seconds=clock.at - 1_000_000.0)
    warmer.claimed(("support-bot", "customer_support", "output"), later)
    assert warmer.scan() == 2
    with database.session(readonly=True) as s:
        assert bank_for(session=s, agent="support-bot", now=later, days=DAYS, cached_only=True) is not first
    assert warmer.scan() == 0


def test_new_open_work_and_a_claim_hand_their_slot_to_the_running_warmer(database, settings, now):
    warmer = start_warming(database.engine, days=DAYS, clock=lambda: now, interval=3600)  # no second scan
    try:
        assert start_warming(database.engine, days=DAYS, clock=lambda: now) is warmer  # one per database
        until(lambda: warmer.scans == 1)  # its first scan, at start, found nothing open
        _enqueue(database, now)
        with database.session(readonly=True) as s:
            note_open(session=s, slots=[("support-bot", "customer_support", "output")], now=now)
        until(lambda: not _plant_would_build(database, now))

        _enqueue(database, now, agent="new-bot", category="orders")
        with database.session_scope() as s:
            reviewer = make_user(s, "rita", now=now - timedelta(days=20))
        with database.session_scope() as s:
            # A claim hands over its real item's slot, whether or not a copy is planted for it.
            items = []
            while (item := claim_real(session=s, reviewer_id=reviewer.id, now=now, settings=settings,
                                      rng=random.Random(4))[0]) is not None:
                items.append(item.agent)
        assert "new-bot" in items
        until(lambda: not _plant_would_build(database, now, agent="new-bot", category="orders"))
        until(lambda: warmer.built == 4)
    finally:
        stop_warming(database.engine)
    assert not warmer.running()


def test_without_a_warmer_noting_open_work_builds_nothing(database, now):
    _enqueue(database, now)
    with database.session(readonly=True) as s:
        note_open(session=s, slots=[("support-bot", "customer_support", "output")], now=now)
    assert projection_bank.rebuilding() == 0
    assert _plant_would_build(database, now)


def test_items_and_approvals_submitted_through_the_api_are_warmed(app, client, database):
    from tests.support.api import bearer, issue_token

    engine, clock = app.extensions["reviewq.db"].engine, app.extensions["reviewq.clock"]
    now = clock()
    token = issue_token(database, agent="support-bot", now=now)
    warmer = start_warming(engine, days=DAYS, clock=clock, interval=3600)
    until(lambda: warmer.scans == 1)
    answer = client.post("/api/v1/items", headers=bearer(token), json={"items": [
        {"trace_id": "t-1", "category": "billing", "input": "balance?", "output": "Your balance is $12."}]})
    assert answer.status_code == 200 and answer.get_json()["results"][0]["queued"]
    answer = client.post("/api/v1/approvals", headers=bearer(token), json={
        "trace_id": "t-2", "actor": "support-bot", "intent": "refund",
        "tool_call": {"name": "refund", "args": {"amount": 12}}, "timeout_s": 600})
    assert answer.status_code == 201, answer.get_json()
    app_database = app.extensions["reviewq.db"]
    until(lambda: not _plant_would_build(app_database, now, category="billing"))
    until(lambda: not _plant_would_build(app_database, now, category="refund", kind="approval"))


def test_a_failing_warmer_backs_off_and_recovers(database, now, monkeypatch, caplog):
    calls = []

    def broken(**_):
        calls.append(None)
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(projection_warmer, "open_slots", broken)
    warmer = start_warming(database.engine, days=DAYS, clock=lambda: now, interval=2)
    until(lambda: warmer.failures >= 2)
    time.sleep(1)
    assert len(calls) <= 4  # 0.5 s, 1 s, 2 s apart: not once a millisecond
    assert len([r for r in caplog.records if "warming the projection caches failed" in r.getMessage()]) == 1
    monkeypatch.undo()
    _enqueue(database, now)
    until(lambda: not _plant_would_build(database, now), timeout=10)


@pytest.mark.parametrize("planting", [True, False])
def test_each_served_worker_starts_its_warmer_unless_nothing_is_planted(settings, database, planting):
    """reviewq.server starts one in every worker after the app loads (its queue calls read the caches)."""
    from reviewq.server import _start_warming
    from reviewq.web import create_app

    weekly = 5 if planting else 0
    settings = settings.model_copy(update={"canaries": settings.canaries.model_copy(
        update={"per_reviewer_per_week": weekly, "controls_per_reviewer_per_week": weekly})})
    app = create_app(settings)
    _start_warming(SimpleNamespace(wsgi=SimpleNamespace(app=app)))
    try:
        engine = app.extensions["reviewq.db"].engine
        warmer = projection_warmer._warmers.get(projection_warmer.database_key(engine))
        if planting:
            assert warmer is not None and warmer.running() and warmer.days == settings.canaries.source_days
        else:
            assert warmer is None
    finally:
        stop_warming()
        app.extensions["reviewq.db"].dispose()


@pytest.fixture(autouse=True)
def _no_warmer_left():
    yield
    stop_warming()
    assert not [t for t in threading.enumerate() if t.name == "reviewq-projection-warmer"]
