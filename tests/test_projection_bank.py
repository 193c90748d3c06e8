"""The projection's value bank is reused for a minute, per database and agent, and then rebuilt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reviewq.db import Database
from reviewq.domain.items import enqueue
from reviewq.domain.projection_bank import FRESH_S, STALE_S, NotCached, bank_for, slot_for
from tests.factories import output_item
from tests.support.waiting import until


def _add(database: Database, order: str, now) -> None:
    with database.session_scope() as s:
        enqueue(session=s, data=output_item(payload={"input": "where is it?", "output": f"Order {order} shipped."}),
                now=now)


def test_a_bank_holds_only_its_own_agents_values(database, settings, now):
    """Two agents whose ids share a format: a canary on one never carries the other's ids or words."""
    import random

    from reviewq.canaries.mutators import NotApplicable, changed_value

    for n in range(5):
        _add(database, f"ORD-{400001 + n}", now)
        with database.session_scope() as s:
            enqueue(session=s, now=now, data=output_item(agent="ledger-bot", category="invoices", payload={
                "input": "which invoice?", "output": f"Invoice INV-{500001 + n} settled by remittance."}))
    with database.session() as s:
        bank = bank_for(session=s, agent="support-bot", now=now, days=14)
    assert bank.values["AAA-999999"] == {f"ORD-{400001 + n}" for n in range(5)}
    assert not {"INV", "Invoice", "remittance"} & bank.vocabulary
    source = {"kind": "output", "agent": "support-bot", "category": "customer_support",
              "payload": {"input": "Where is order ORD-400001?", "output": "Order ORD-400001 shipped."}}
    claims = set()
    for seed in range(40):
        try:
            claims.add(changed_value(source, random.Random(seed), bank).fault["claim"])
        except NotApplicable:
            continue
    assert claims and all(claim.startswith("ORD-") for claim in claims), claims


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


class _Clock:
    """projection_bank's view of the monotonic clock, moved by the test."""

    def __init__(self) -> None:
        import time

        self.at = time.monotonic()

    def monotonic(self) -> float:
        return self.at


def test_past_a_minute_of_real_time_the_kept_bank_is_served_while_a_new_one_is_built_aside(
        database, settings, now, monkeypatch):
    """Under `reviewq serve` the queue calls run on the event loop: a build there held everyone."""
    from reviewq.domain import projection_bank

    clock = _Clock()
    monkeypatch.setattr(projection_bank, "time", clock)
    pauses: list[None] = []
    monkeypatch.setattr(projection_bank, "_let_others_run", lambda: pauses.append(None))
    _add(database, "ACM-400001", now)
    with database.session() as s:
        first = bank_for(session=s, agent="support-bot", now=now, days=14)
    assert pauses == []  # built in the caller, straight through
    _add(database, "ACM-400002", now)
    clock.at += FRESH_S + 5  # real time: the clock and `now` move together
    later = now + timedelta(seconds=FRESH_S + 5)
    with database.session() as s:
        served = bank_for(session=s, agent="support-bot", now=later, days=14, cached_only=True)
    assert served is first  # at once, no NotCached: the build runs aside
    until(lambda: projection_bank.rebuilding() == 0)
    with database.session() as s:
        rebuilt = bank_for(session=s, agent="support-bot", now=later, days=14, cached_only=True)
    assert rebuilt is not first and {"ACM-400001", "ACM-400002"} <= rebuilt.values["AAA-999999"]
    # Aside, the GIL was given up after each of the two items read (the loop's thread was not held
    # for a whole switch interval each time it woke).
    assert len(pauses) == 2


def test_past_the_stale_limit_or_after_a_jump_in_simulated_time_the_caller_builds(
        database, settings, now, monkeypatch):
    from reviewq.domain import projection_bank

    clock = _Clock()
    monkeypatch.setattr(projection_bank, "time", clock)
    key = {"agent": "support-bot", "category": "customer_support", "kind": "output", "days": 14}
    _add(database, "ACM-500001", now)
    with database.session() as s:
        first = slot_for(session=s, now=now, **key)
        clock.at += STALE_S + 1
        with pytest.raises(NotCached):  # too old to serve: a caller that cannot build is told so
            slot_for(session=s, now=now + timedelta(seconds=STALE_S + 1), cached_only=True, **key)
        old = slot_for(session=s, now=now + timedelta(seconds=STALE_S + 1), **key)
        assert old is not first and projection_bank.rebuilding() == 0
        # A simulation moving `now` on by hours while the clock stands still builds for its own time.
        jumped = slot_for(session=s, now=now + timedelta(hours=5), **key)
        assert jumped is not old and projection_bank.rebuilding() == 0


def test_a_rebuild_reads_only_the_payloads_it_has_not_seen(database, settings, now):
    """Each item's contribution is kept by its row: a rebuild reads and decodes only new payloads,
    and builds the bank a build from scratch would."""
    from reviewq.canaries.bank import Bank
    from reviewq.domain.projection_sources import bank_items

    _add(database, "ACM-600001", now)
    _add(database, "ACM-600002", now)
    with database.session() as s:
        first = bank_for(session=s, agent="support-bot", now=now, days=14)
    _add(database, "ACM-600003", now)
    later = now + timedelta(seconds=FRESH_S + 1)
    with database.session() as s:
        rebuilt = bank_for(session=s, agent="support-bot", now=later, days=14)
        from reviewq.domain.projection_bank import _known_of

        rows = bank_items(session=s, agent="support-bot", now=later, days=14, known=_known_of(s))
        afresh = Bank.build(bank_items(session=s, agent="support-bot", now=later, days=14))
    assert len(rows) == 3 and not any("payload" in row for row in rows)  # all three known by now
    assert rebuilt is not first and {"ACM-600001", "ACM-600002", "ACM-600003"} <= rebuilt.values["AAA-999999"]
    assert rebuilt.values == afresh.values and rebuilt.vocabulary == afresh.vocabulary
