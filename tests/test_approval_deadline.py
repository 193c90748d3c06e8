"""A verdict after an approval's deadline never counts: the deciding transaction expires it (fail closed)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from reviewq.domain.claims import claim_next
from reviewq.domain.errors import DeadlinePassed
from reviewq.models import AuditEvent, Decision, Item, ItemStatus, Outcome, Verdict, WebhookDelivery, utcnow
from tests.support.api import add_reviewer, ask, bearer, decide_in, hook_settings, issue_token
from tests.support.web import json_headers, login

CALLBACK = "https://hooks.example.com/reviewq"


@pytest.fixture
def hooked(settings):
    return hook_settings(settings, "hooks.example.com")


def _state(database, public_id):
    """(status, outcome), the deciding reviewers' ids, the webhook payloads of this item."""
    with database.session_scope(readonly=True) as s:
        item = s.exec(select(Item).where(Item.public_id == public_id)).one()
        decisions = [d.reviewer_id for d in s.exec(select(Decision).where(Decision.item_id == item.id))]
        hooks = s.exec(select(WebhookDelivery).where(WebhookDelivery.item_id == item.id))
        deliveries = [json.loads(w.body) for w in hooks]
        return (item.status, item.outcome), decisions, deliveries


def _claim(database, reviewer, at):
    with database.session_scope() as s:
        item = claim_next(session=s, reviewer_id=reviewer.id, now=at, lease_seconds=600)
        return item.public_id


@pytest.mark.parametrize("verdict", [Verdict.APPROVE, Verdict.REJECT])
def test_a_verdict_after_the_deadline_expires_the_approval_in_the_same_transaction(database, hooked, now, verdict):
    """Claimed in time, decided 0.25 s after a 2 s deadline: refused, expired/deny, webhook queued, no decision."""
    token = issue_token(database, now=now)
    public_id = ask(database, token, hooked, CALLBACK, now, timeout_s=2)
    rita = add_reviewer(database, "rita", now=now)
    assert _claim(database, rita, now + timedelta(seconds=1)) == public_id
    with database.session_scope() as s, pytest.raises(DeadlinePassed) as caught:
        try:
            decide_in(s, public_id, rita, verdict, settings=hooked, now=now + timedelta(seconds=2.25))
        finally:
            s.commit()  # what the web layer does: the expiry stands, the verdict is refused
    assert caught.value.outcome == "deny" and "deadline passed" in caught.value.message
    item, decisions, deliveries = _state(database, public_id)
    assert item == (ItemStatus.EXPIRED, Outcome.DENY)
    assert decisions == [] and len(deliveries) == 1
    assert deliveries[0]["data"]["status"] == "expired"
    with database.session_scope(readonly=True) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "approval.expired")).one()
        assert event.details["late_verdict"] == verdict.value and event.details["reviewer_id"] == rita.id


def test_a_verdict_just_before_the_deadline_counts(database, hooked, now):
    """The same approval decided 1 ms before its deadline is approved as usual."""
    token = issue_token(database, now=now)
    public_id = ask(database, token, hooked, CALLBACK, now, timeout_s=2)
    rita = add_reviewer(database, "rita", now=now)
    _claim(database, rita, now + timedelta(seconds=1))
    with database.session_scope() as s:
        decide_in(s, public_id, rita, Verdict.APPROVE, settings=hooked, now=now + timedelta(seconds=1.999))
    item, decisions, _ = _state(database, public_id)
    assert item == (ItemStatus.DECIDED, Outcome.APPROVE) and decisions == [rita.id]


def test_the_second_approver_of_an_irreversible_approval_is_refused_after_the_deadline(database, hooked, now):
    """First approval in time, second one late: the approval expires as deny, only the first decision stays."""
    token = issue_token(database, now=now)
    public_id = ask(database, token, hooked, CALLBACK, now, timeout_s=2, irreversible=True)
    rita, sam = add_reviewer(database, "rita", now=now), add_reviewer(database, "sam", now=now)
    _claim(database, rita, now + timedelta(seconds=0.5))
    with database.session_scope() as s:
        decide_in(s, public_id, rita, Verdict.APPROVE, settings=hooked, now=now + timedelta(seconds=1))
    assert _claim(database, sam, now + timedelta(seconds=1.5)) == public_id
    with database.session_scope() as s, pytest.raises(DeadlinePassed):
        try:
            decide_in(s, public_id, sam, Verdict.APPROVE, settings=hooked, now=now + timedelta(seconds=2.25))
        finally:
            s.commit()
    item, decisions, deliveries = _state(database, public_id)
    assert item == (ItemStatus.EXPIRED, Outcome.DENY)
    assert decisions == [rita.id] and len(deliveries) == 1


def test_approve_on_timeout_intents_keep_their_configured_outcome(database, hooked, now):
    """An intent configured to approve on timeout settles as expired/approve when the verdict is late."""
    settings = hooked.replace(approvals={"approve_on_timeout_intents": ("refund",)})
    token = issue_token(database, now=now)
    public_id = ask(database, token, settings, CALLBACK, now, timeout_s=2)
    rita = add_reviewer(database, "rita", now=now)
    _claim(database, rita, now + timedelta(seconds=1))
    with database.session_scope() as s, pytest.raises(DeadlinePassed) as caught:
        try:
            decide_in(s, public_id, rita, Verdict.REJECT, settings=settings, now=now + timedelta(seconds=3))
        finally:
            s.commit()
    assert caught.value.outcome == "approve"
    item, decisions, _ = _state(database, public_id)
    assert item == (ItemStatus.EXPIRED, Outcome.APPROVE) and decisions == []


@pytest.mark.parametrize("irreversible", [False, True])
def test_late_decide_over_http_is_409_and_the_agent_sees_expired(app, client, database, irreversible):
    """POST /queue/items/<id>/decide after the deadline: 409 deadline_passed, and the agent reads expired/deny."""
    settings = app.extensions["reviewq.settings"]
    start = utcnow() - timedelta(seconds=10)  # the deadline (start + 2 s) is 8 s in the past
    token = issue_token(database, now=start)
    public_id = ask(database, token, settings, None, start, timeout_s=2, irreversible=irreversible)
    rita = add_reviewer(database, "rita", now=start)
    if irreversible:
        sam = add_reviewer(database, "sam", now=start)
        _claim(database, sam, start + timedelta(seconds=0.5))
        with database.session_scope() as s:
            decide_in(s, public_id, sam, Verdict.APPROVE, settings=settings, now=start + timedelta(seconds=1))
    assert _claim(database, rita, start + timedelta(seconds=1.5)) == public_id  # lease runs 10 minutes
    login(client, "rita")
    r = client.post(f"/queue/items/{public_id}/decide", json={"verdict": "approve"}, headers=json_headers(client))
    assert r.status_code == 409 and r.json["error"]["code"] == "deadline_passed", r.get_data(as_text=True)
    assert "expired" in r.json["error"]["message"] and "denied" in r.json["error"]["message"]
    agent = client.get(f"/api/v1/approvals/{public_id}", headers=bearer(token))
    assert agent.json["status"] == "expired" and agent.json["outcome"] == "deny"
    assert agent.json["approvals"]["given"] == (1 if irreversible else 0)
