"""The projection's value bank is reused for a minute, per database and agent, and then rebuilt."""

from __future__ import annotations

from datetime import timedelta

from reviewq.db import Database
from reviewq.domain.items import enqueue
from reviewq.domain.projection_bank import FRESH_S, bank_for, slot_for
from tests.factories import output_item


def _add(database: Database, order: str, now) -> None:
    with database.session_scope() as s:
        enqueue(session=s, data=output_item(payload={"input": "where is it?", "output": f"Order {order} shipped."}),
                now=now)


def test_a_bank_is_reused_within_a_minute_and_rebuilt_after(database, settings, now):
    _add(database, "ACM-100001", now)
    with database.session() as s:
        first = bank_for(session=s, agent="support-bot", now=now, days=14)
    assert "ACM-100001" in first.values["AAA-999999"]
    _add(database, "ACM-100002", now)
    with database.session() as s:
        again = bank_for(session=s, agent="support-bot", now=now + timedelta(seconds=1), days=14)
        later = bank_for(session=s, agent="support-bot", now=now + timedelta(seconds=FRESH_S + 1), days=14)
    assert again is first  # not rebuilt: the new order is not in it yet
    assert "ACM-100002" not in again.values["AAA-999999"]
    assert later is not first and {"ACM-100001", "ACM-100002"} <= later.values["AAA-999999"]


def test_each_database_has_its_own_bank(database, settings, now):
    _add(database, "ACM-200001", now)
    other = Database.from_settings(settings)  # same data, another engine: as a test after this one
    try:
        with database.session(readonly=True) as s, other.session(readonly=True) as t:
            mine = bank_for(session=s, agent="support-bot", now=now, days=14)
            theirs = bank_for(session=t, agent="support-bot", now=now, days=14)
        assert mine is not theirs
        with database.session() as s:
            assert bank_for(session=s, agent="other-bot", now=now, days=14) is not mine  # reservoir is per agent
    finally:
        other.dispose()


def test_a_slot_profile_is_reused_within_a_minute_and_rebuilt_after(database, settings, now):
    """The library fill-in's slot profile (300 items read) is kept like the bank."""
    _add(database, "ACM-300001", now)
    key = {"agent": "support-bot", "category": "customer_support", "kind": "output", "days": 14}
    with database.session() as s:
        first = slot_for(session=s, now=now, **key)
    _add(database, "ACM-300002", now)
    with database.session() as s:
        again = slot_for(session=s, now=now + timedelta(seconds=1), **key)
        later = slot_for(session=s, now=now + timedelta(seconds=FRESH_S + 1), **key)
        other = slot_for(session=s, now=now, **{**key, "category": "billing"})
    assert again is first and first.count == 1
    assert later is not first and later.count == 2
    assert other is not first
