"""The queue core: claim order, leases, decisions and the two-person rule, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from reviewq.domain.claims import claim_next, release, renew_lease, sweep_expired_leases
from reviewq.domain.decide import decide
from reviewq.domain.errors import InvalidTransition, LeaseLost, ValidationFailed
from reviewq.domain.items import enqueue
from reviewq.domain.reviewer import approvals_given
from reviewq.domain.transitions import set_status
from reviewq.models import (
    AuditEvent,
    Decision,
    DecisionCreate,
    Item,
    ItemStatus,
    Outcome,
    ReasonBucket,
    Verdict,
)
from tests.factories import add_outputs, approval_item, make_user, output_item

APPROVE = DecisionCreate(verdict=Verdict.APPROVE, active_ms=4000)


def test_claim_order_is_approvals_then_assigned_then_oldest(session, now, settings):
    """Approvals come first by deadline, then due items assigned to me, then the oldest outputs."""
    alice = make_user(session, "alice", now=now)
    bob = make_user(session, "bob", now=now)
    old, newer = add_outputs(session, 2, now=now - timedelta(hours=2))
    late = enqueue(session=session, data=approval_item(now=now, deadline_in=timedelta(hours=3)), now=now).item
    soon = enqueue(session=session, data=approval_item(now=now, deadline_in=timedelta(minutes=5)), now=now).item
    due_mine = output_item(assigned_to=alice.id, not_before=now - timedelta(minutes=1))
    mine = enqueue(session=session, data=due_mine, now=now).item
    enqueue(session=session, data=output_item(assigned_to=alice.id, not_before=now + timedelta(hours=1)), now=now)
    enqueue(session=session, data=output_item(assigned_to=bob.id), now=now - timedelta(days=1))
    session.flush()

    claimed = []
    while (item := claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)) is not None:
        claimed.append(item.public_id)
    assert claimed == [soon.public_id, late.public_id, mine.public_id, old.public_id, newer.public_id]


def test_public_ids_are_random_not_sequential(session, now):
    """Ids carry no order: consecutive items share no common prefix beyond the type tag."""
    items = add_outputs(session, 20, now=now)
    ids = [i.public_id for i in items]
    assert len(set(ids)) == 20
    assert sorted(ids) != ids and sorted(ids, reverse=True) != ids
    assert all(i.startswith("itm_") and len(i) >= 16 for i in ids)


def test_decide_records_timing_session_and_audit(session, now, settings):
    """A decision stores shown/decided times, clamped active time, its session and an audit event."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 2, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    later = now + timedelta(seconds=30)
    result = decide(
        session=session, public_id=item.public_id, reviewer=alice,
        data=DecisionCreate(verdict=Verdict.REJECT, reason=ReasonBucket.OFF_TOPIC, note="no", active_ms=999_999),
        now=later, settings=settings,
    )
    assert result.settled and result.item.status == ItemStatus.DECIDED
    assert result.item.outcome == Outcome.REJECT
    d = result.decision
    assert d.shown_at == now and d.decided_at == later
    assert d.server_ms == 30_000 and d.active_ms == 30_000  # clamped to the server span
    assert d.minutes_into_session == pytest.approx(0.5)
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "item.decided")).all()
    assert [e.object_id for e in events] == [item.public_id]


def test_sessions_split_on_a_fifteen_minute_gap(session, now, settings):
    """Decisions within the gap share a session and accumulate minutes; a long gap starts anew."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 3, now=now)
    t = now
    sessions = []
    minutes = []
    for gap in (0, 5, 20):
        t = t + timedelta(minutes=gap)
        item = claim_next(session=session, reviewer_id=alice.id, now=t, lease_seconds=600)
        t = t + timedelta(minutes=2)
        r = decide(session=session, public_id=item.public_id, reviewer=alice,
                   data=DecisionCreate(verdict=Verdict.APPROVE, active_ms=120_000), now=t, settings=settings)
        sessions.append(r.decision.review_session_id)
        minutes.append(r.decision.minutes_into_session)
    assert sessions[0] == sessions[1] != sessions[2]
    assert minutes == [pytest.approx(2.0), pytest.approx(4.0), pytest.approx(2.0)]


def test_reject_needs_a_reason(session, now, settings):
    """A reject without a reason bucket is refused and the item stays leased."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 1, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    with pytest.raises(ValidationFailed) as err:
        decide(session=session, public_id=item.public_id, reviewer=alice,
               data=DecisionCreate.model_construct(verdict=Verdict.REJECT), now=now, settings=settings)
    assert err.value.field == "reason"
    session.refresh(item)
    assert item.status == ItemStatus.LEASED


def test_expired_lease_returns_to_queue_but_decided_never_does(session, now, settings):
    """The sweeper gives expired leases back; a decided item is never re-queued or re-decided."""
    alice = make_user(session, "alice", now=now)
    bob = make_user(session, "bob", now=now)
    add_outputs(session, 2, now=now)
    first = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    second = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    decide(session=session, public_id=second.public_id, reviewer=alice, data=APPROVE, now=now, settings=settings)
    assert sweep_expired_leases(session=session, now=now + timedelta(seconds=30)) == 0
    assert sweep_expired_leases(session=session, now=now + timedelta(seconds=61)) == 1
    later = now + timedelta(seconds=62)
    again = claim_next(session=session, reviewer_id=bob.id, now=later, lease_seconds=60)
    assert again.public_id == first.public_id
    assert claim_next(session=session, reviewer_id=bob.id, now=later, lease_seconds=60) is None
    with pytest.raises(LeaseLost):
        decide(session=session, public_id=first.public_id, reviewer=alice, data=APPROVE, now=later, settings=settings)
    with pytest.raises(InvalidTransition):
        decide(session=session, public_id=second.public_id, reviewer=bob, data=APPROVE, now=later, settings=settings)


def test_heartbeat_extends_and_release_gives_back(session, now):
    """renew_lease moves the expiry; release returns the item; neither works for a non-holder."""
    alice = make_user(session, "alice", now=now)
    bob = make_user(session, "bob", now=now)
    add_outputs(session, 1, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    until = renew_lease(session=session, public_id=item.public_id, reviewer_id=alice.id,
                        now=now + timedelta(seconds=50), lease_seconds=60)
    assert until == now + timedelta(seconds=110)
    assert sweep_expired_leases(session=session, now=now + timedelta(seconds=100)) == 0
    with pytest.raises(LeaseLost):
        renew_lease(session=session, public_id=item.public_id, reviewer_id=bob.id, now=now, lease_seconds=60)
    assert not release(session=session, public_id=item.public_id, reviewer_id=bob.id, now=now)
    assert release(session=session, public_id=item.public_id, reviewer_id=alice.id, now=now)
    assert claim_next(session=session, reviewer_id=bob.id, now=now, lease_seconds=60).public_id == item.public_id


def test_two_person_rule_needs_two_distinct_approvers(session, now, settings):
    """An item needing two approvals stays open after one, is never re-offered to the same
    reviewer, and settles on the second; one reject is enough to deny."""
    alice, bob, carol = (make_user(session, n, now=now) for n in ("alice", "bob", "carol"))
    two = enqueue(session=session, data=approval_item(now=now, required_approvals=2), now=now).item
    first = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    assert first.public_id == two.public_id
    r1 = decide(session=session, public_id=two.public_id, reviewer=alice, data=APPROVE, now=now, settings=settings)
    assert not r1.settled and r1.item.status == ItemStatus.QUEUED and r1.item.outcome is None
    assert claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60) is None
    assert claim_next(session=session, reviewer_id=bob.id, now=now, lease_seconds=60).public_id == two.public_id
    r2 = decide(session=session, public_id=two.public_id, reviewer=bob, data=APPROVE, now=now, settings=settings)
    assert r2.settled and r2.item.outcome == Outcome.APPROVE

    other = enqueue(session=session, data=approval_item(now=now, required_approvals=2), now=now).item
    claim_next(session=session, reviewer_id=carol.id, now=now, lease_seconds=60)
    r3 = decide(session=session, public_id=other.public_id, reviewer=carol,
                data=DecisionCreate(verdict=Verdict.REJECT, reason=ReasonBucket.POLICY_VIOLATION),
                now=now, settings=settings)
    assert r3.settled and r3.item.outcome == Outcome.DENY


def test_transition_table_refuses_moves_out_of_final_states(session, now, settings):
    """Only moves listed in TRANSITIONS pass."""
    alice = make_user(session, "alice", now=now)
    add_outputs(session, 1, now=now)
    item = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
    decide(session=session, public_id=item.public_id, reviewer=alice, data=APPROVE, now=now, settings=settings)
    for target in ItemStatus:
        with pytest.raises(InvalidTransition):
            set_status(session=session, item=item, status=target, now=now)


def test_resubmitted_dedupe_key_returns_the_first_item(session, now):
    """Enqueueing the same dedupe key twice gives one item."""
    a = enqueue(session=session, data=output_item(dedupe_key="support-bot:t1"), now=now)
    b = enqueue(session=session, data=output_item(dedupe_key="support-bot:t1"), now=now)
    assert a.created and not b.created and a.item.id == b.item.id
    assert len(session.exec(select(Decision)).all()) == 0


def test_assigned_items_are_interleaved_with_real_work_given_an_rng(session, now):
    """With an rng, a due assigned item is not always served first, yet is served once nothing else waits."""
    import random

    alice = make_user(session, "alice", now=now)
    add_outputs(session, 30, now=now - timedelta(hours=1))
    planted = enqueue(session=session, data=output_item(assigned_to=alice.id, not_before=now - timedelta(hours=2)),
                      now=now - timedelta(minutes=5)).item
    order = []
    rng = random.Random(3)
    while (item := claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60, rng=rng)) is not None:
        order.append(item.public_id)
    assert len(order) == 31 and planted.public_id in order
    assert 0 < order.index(planted.public_id) < 30


def test_two_person_rule_holds_for_outputs_and_counts_approvers(session, now, settings):
    """An output needing two approvals is never re-offered to its first approver, from the shared
    queue or as an assignment, and one reviewer approving twice (a lease forced back to them) is
    still one approver: the item stays open until someone else approves."""
    alice, bob = (make_user(session, n, now=now) for n in ("alice", "bob"))
    shared = enqueue(session=session, data=output_item(required_approvals=2), now=now).item
    assigned = enqueue(session=session, data=output_item(required_approvals=2, assigned_to=alice.id),
                       now=now).item
    claimed = set()
    for _ in (shared, assigned):
        got = claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60)
        claimed.add(got.public_id)
        r = decide(session=session, public_id=got.public_id, reviewer=alice, data=APPROVE, now=now,
                   settings=settings)
        assert not r.settled and r.item.status == ItemStatus.QUEUED
    assert claimed == {shared.public_id, assigned.public_id}
    assert claim_next(session=session, reviewer_id=alice.id, now=now, lease_seconds=60) is None

    # Forced back to alice (as a lease taken before the rule applied would be): her second approve
    # does not count.
    session.execute(sa.update(Item).where(Item.id == shared.id).values(
        status=ItemStatus.LEASED, lease_holder=alice.id, leased_at=now, lease_expires_at=now + timedelta(minutes=1)))
    again = decide(session=session, public_id=shared.public_id, reviewer=alice, data=APPROVE, now=now,
                   settings=settings)
    assert not again.settled and again.item.status == ItemStatus.QUEUED
    assert approvals_given(session=session, item_id=shared.id) == 1

    got = claim_next(session=session, reviewer_id=bob.id, now=now, lease_seconds=60)
    assert got.public_id == shared.public_id
    done = decide(session=session, public_id=shared.public_id, reviewer=bob, data=APPROVE, now=now, settings=settings)
    assert done.settled and done.item.outcome == Outcome.APPROVE
