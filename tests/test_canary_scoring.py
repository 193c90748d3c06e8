"""Scoring decisions on planted items, and the reveal modes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from reviewq.domain.canary_scoring import due_reveals
from reviewq.domain.claims import claim_next
from reviewq.domain.decide import decide
from reviewq.domain.items import enqueue
from reviewq.models import (
    AuditEvent,
    DecisionCreate,
    Injection,
    InjectionKind,
    InjectionOutcome,
    InjectionSource,
    ItemStatus,
    ReasonBucket,
    Verdict,
)
from tests.factories import approval_item, make_user, output_item


def plant(session, reviewer, now, *, kind=InjectionKind.CANARY, bucket="hallucinated_fact", item=None):
    data = item or output_item(assigned_to=reviewer.id, not_before=now)
    data.assigned_to = reviewer.id
    planted = enqueue(session=session, data=data, now=now).item
    injection = Injection(
        item_id=planted.id, reviewer_id=reviewer.id, kind=kind, source=InjectionSource.LIBRARY,
        bucket=bucket if kind == InjectionKind.CANARY else None,
        library_entry_id=f"test-{planted.public_id}", explanation="The order number was changed.",
        week_start=now - timedelta(hours=9), scheduled_for=now, created_at=now,
    )
    session.add(injection)
    session.flush()
    return planted, injection


def verdict_on(session, settings, reviewer, now, verdict, reason=None):
    item = claim_next(session=session, reviewer_id=reviewer.id, now=now, lease_seconds=60)
    assert item is not None
    return decide(
        session=session, public_id=item.public_id, reviewer=reviewer,
        data=DecisionCreate(verdict=verdict, reason=reason, active_ms=20_000),
        now=now + timedelta(seconds=30), settings=settings,
    )


def test_reject_with_matching_bucket_is_caught_and_diagnosed(session, settings, now):
    """A rejected canary is caught, diagnosed when the bucket matches, and carries the decision's timing."""
    rev = make_user(session, now=now)
    _, inj = plant(session, rev, now)
    result = verdict_on(session, settings, rev, now, Verdict.REJECT, ReasonBucket.HALLUCINATED_FACT)
    session.refresh(inj)
    assert inj.outcome == InjectionOutcome.CAUGHT and inj.diagnosed
    assert inj.decision_id == result.decision.id
    assert inj.decided_at == result.decision.decided_at
    assert inj.active_ms == result.decision.active_ms == 20_000
    assert inj.minutes_into_session == result.decision.minutes_into_session
    assert result.effects.reveal == {
        "kind": "canary", "outcome": "caught", "bucket": "hallucinated_fact",
        "explanation": "The order number was changed.",
    }
    assert inj.revealed_at == now + timedelta(seconds=30)
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "canary.revealed")).all()
    assert [e.object_id for e in events] == [result.item.public_id]


def test_reject_with_other_bucket_is_caught_not_diagnosed(session, settings, now):
    """A reject under another bucket still counts as caught, but not diagnosed."""
    rev = make_user(session, now=now)
    _, inj = plant(session, rev, now)
    verdict_on(session, settings, rev, now, Verdict.REJECT, ReasonBucket.OFF_TOPIC)
    session.refresh(inj)
    assert inj.outcome == InjectionOutcome.CAUGHT and not inj.diagnosed


def test_approve_is_missed(session, settings, now):
    """An approved canary is a miss, and the reveal says so."""
    rev = make_user(session, now=now)
    _, inj = plant(session, rev, now)
    result = verdict_on(session, settings, rev, now, Verdict.APPROVE)
    session.refresh(inj)
    assert inj.outcome == InjectionOutcome.MISSED and not inj.diagnosed
    assert result.effects.reveal["outcome"] == "missed"


def test_controls_score_false_alarm_and_correct(session, settings, now):
    """Rejecting a known-good control is a false alarm; approving it is correct."""
    rev = make_user(session, now=now)
    _, first = plant(session, rev, now, kind=InjectionKind.CONTROL)
    _, second = plant(session, rev, now + timedelta(seconds=1), kind=InjectionKind.CONTROL)
    verdict_on(session, settings, rev, now + timedelta(minutes=1), Verdict.REJECT, ReasonBucket.OTHER)
    result = verdict_on(session, settings, rev, now + timedelta(minutes=2), Verdict.APPROVE)
    session.refresh(first)
    session.refresh(second)
    assert first.outcome == InjectionOutcome.FALSE_ALARM
    assert second.outcome == InjectionOutcome.CORRECT
    assert result.effects.reveal["kind"] == "control" and result.effects.reveal["bucket"] is None


def test_real_items_are_not_scored(session, settings, now):
    """A decision on a real item has no reveal and writes no reveal event."""
    rev = make_user(session, now=now)
    enqueue(session=session, data=output_item(), now=now)
    result = verdict_on(session, settings, rev, now, Verdict.REJECT, ReasonBucket.OTHER)
    assert result.effects.reveal is None
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "canary.revealed")).all() == []


def test_reveal_never_scores_without_revealing(session, settings, now):
    """With reveal = never the outcome is still scored, but nothing is revealed or audited."""
    settings = settings.replace(canaries={"reveal": "never"})
    rev = make_user(session, now=now)
    _, inj = plant(session, rev, now)
    result = verdict_on(session, settings, rev, now, Verdict.APPROVE)
    session.refresh(inj)
    assert inj.outcome == InjectionOutcome.MISSED
    assert result.effects.reveal is None and inj.revealed_at is None
    assert due_reveals(session=session, reviewer=rev, now=now + timedelta(days=1), settings=settings) == []


def test_reveal_end_of_session_waits_for_the_session_to_end(session, settings, now):
    """With reveal = end_of_session nothing shows during the session; after the gap it is revealed once."""
    settings = settings.replace(canaries={"reveal": "end_of_session"})
    rev = make_user(session, now=now)
    _, inj = plant(session, rev, now)
    result = verdict_on(session, settings, rev, now, Verdict.REJECT, ReasonBucket.HALLUCINATED_FACT)
    assert result.effects.reveal is None
    during = now + timedelta(minutes=5)
    assert due_reveals(session=session, reviewer=rev, now=during, settings=settings) == []
    after = now + timedelta(minutes=settings.vigilance.session_gap_minutes + 1)
    shown = due_reveals(session=session, reviewer=rev, now=after, settings=settings)
    assert [(r["kind"], r["outcome"]) for r in shown] == [("canary", "caught")]
    session.refresh(inj)
    assert inj.revealed_at == after
    assert due_reveals(session=session, reviewer=rev, now=after, settings=settings) == []
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "canary.revealed")).all()) == 1


def test_irreversible_approval_canary_is_closed_after_first_approve(session, settings, now):
    """An irreversible planted approval is scored on the first approve and does not linger in the queue."""
    rev = make_user(session, now=now)
    data = approval_item(now=now, required_approvals=2)
    data.payload["irreversible"] = True
    planted, inj = plant(session, rev, now, item=data)
    verdict_on(session, settings, rev, now, Verdict.APPROVE)
    session.refresh(inj)
    session.refresh(planted)
    assert inj.outcome == InjectionOutcome.MISSED
    assert planted.status == ItemStatus.EXPIRED
