"""Every status change follows models.items.TRANSITIONS: take a transition out and each path that used it refuses.

The conditional UPDATEs build their status guards from the table (domain/transitions.py), so these
tests remove one transition at a time and watch the SQL paths, not only set_status, stop.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.domain.approval_settlement import expire_open
from reviewq.domain.approvals import cancel_approval
from reviewq.domain.claims import claim_next, release, release_all, renew_lease, resume_held, sweep_expired_leases
from reviewq.domain.decide import decide, outcome_for
from reviewq.domain.errors import InvalidTransition, LeaseLost
from reviewq.domain.items import enqueue
from reviewq.domain.tokens import create_token
from reviewq.domain.transitions import set_status
from reviewq.models import DecisionCreate, Item, ItemKind, ItemStatus, Outcome, Verdict
from reviewq.models.items import TRANSITIONS
from tests.factories import add_outputs, approval_item, make_user


def _remove(monkeypatch, source: ItemStatus, target: ItemStatus) -> None:
    monkeypatch.setitem(TRANSITIONS, source, TRANSITIONS[source] - {target})


def _status(session, item: Item) -> ItemStatus:
    return ItemStatus(session.exec(select(Item.status).where(Item.id == item.id)).one())


def test_without_queued_to_leased_nothing_can_be_claimed(session, now, monkeypatch):
    alice = make_user(session, "alice", now=now)
    (item,) = add_outputs(session, 1, now=now)
    _remove(monkeypatch, ItemStatus.QUEUED, ItemStatus.LEASED)
    assert claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60) is None
    assert _status(session, item) == ItemStatus.QUEUED
    monkeypatch.undo()
    assert claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60).id == item.id


def test_without_leased_to_decided_no_verdict_settles(session, now, settings, monkeypatch):
    """Both the one-statement settle and the Python path refuse; the item stays with its reviewer."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 1, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    _remove(monkeypatch, ItemStatus.LEASED, ItemStatus.DECIDED)
    with pytest.raises(InvalidTransition):
        decide(session=session, public_id=item.public_id, reviewer=alice,
               data=DecisionCreate(verdict=Verdict.APPROVE), now=now, settings=settings)
    assert _status(session, item) == ItemStatus.LEASED


def test_without_leased_to_queued_nothing_goes_back(session, now, settings, monkeypatch):
    """Release, logout, the lease sweep and the first of two approvals all return items to the queue."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 2, now=now)
    enqueue(session=session, data=approval_item(now=now, required_approvals=2), now=now)
    two = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    one = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    assert two.required_approvals == 2
    _remove(monkeypatch, ItemStatus.LEASED, ItemStatus.QUEUED)
    assert release(session=session, public_id=one.public_id, reviewer_id=alice.id, now=now) is False
    assert release_all(session=session, reviewer_id=alice.id, now=now) == 0
    assert sweep_expired_leases(session=session, now=now + timedelta(hours=1)) == 0
    with pytest.raises(InvalidTransition):
        decide(session=session, public_id=two.public_id, reviewer=alice,
               data=DecisionCreate(verdict=Verdict.APPROVE), now=now, settings=settings)
    assert {_status(session, one), _status(session, two)} == {ItemStatus.LEASED}
    monkeypatch.undo()
    assert release(session=session, public_id=one.public_id, reviewer_id=alice.id, now=now) is True


def test_without_leased_to_leased_no_lease_is_renewed(session, now, monkeypatch):
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 1, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    _remove(monkeypatch, ItemStatus.LEASED, ItemStatus.LEASED)
    with pytest.raises(LeaseLost):
        renew_lease(session=session, public_id=item.public_id, reviewer_id=alice.id, now=now, lease_seconds=60)
    assert resume_held(session=session, reviewer_id=alice.id, now=now, lease_seconds=60) is None


def test_without_a_way_to_expired_or_cancelled_approvals_stay_open(session, now, settings, monkeypatch):
    """The approval timeout, an agent's cancel and set_status (canary clean-up) use the table too."""
    issued = create_token(session=session, agent="billing-agent", scopes="approvals:write", now=now, actor="test")
    late = enqueue(session=session, data=approval_item(now=now, token_id=issued.token.id), now=now).item
    other = enqueue(session=session, data=approval_item(now=now, token_id=issued.token.id), now=now).item
    for status in (ItemStatus.QUEUED, ItemStatus.LEASED):
        _remove(monkeypatch, status, ItemStatus.EXPIRED)
        _remove(monkeypatch, status, ItemStatus.CANCELLED)
    assert expire_open(session=session, item=late, now=now + timedelta(hours=2), settings=settings) is None
    with pytest.raises(InvalidTransition):
        cancel_approval(session=session, token=issued.token, public_id=other.public_id, now=now)
    with pytest.raises(InvalidTransition):
        set_status(session=session, item=late, status=ItemStatus.EXPIRED, now=now)
    assert {_status(session, late), _status(session, other)} == {ItemStatus.QUEUED}
    monkeypatch.undo()
    assert expire_open(session=session, item=late, now=now + timedelta(hours=2), settings=settings) == Outcome.DENY


def test_one_outcome_rule_for_sql_and_python(session, now, settings):
    """A reject settles as reject for an output and deny for an approval, on both settle paths."""
    assert [outcome_for(Verdict.REJECT, k) for k in ItemKind] == [Outcome.REJECT, Outcome.DENY]
    assert {outcome_for(Verdict.APPROVE, k) for k in ItemKind} == {Outcome.APPROVE}
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 1, now=now)
    enqueue(session=session, data=approval_item(now=now), now=now)
    for _ in range(2):  # the approval first, then the output; both by the one-statement settle
        item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
        result = decide(session=session, public_id=item.public_id, reviewer=alice,
                        data=DecisionCreate(verdict=Verdict.REJECT, reason="other"), now=now, settings=settings)
        assert result.item.outcome == outcome_for(Verdict.REJECT, ItemKind(item.kind))
